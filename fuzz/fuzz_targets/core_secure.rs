//! A *secure* hyphae-core `Node` (provisioned, counters confirmed) fed arbitrary datagrams from
//! a provisioned neighbour's link address and from strangers, real sealed frames of that
//! neighbour with fuzzer-chosen bit flips, timeouts and sends: it must never panic, everything it
//! emits must be sealed and parse, and nothing unauthenticated may be delivered.
#![no_main]

use std::sync::OnceLock;

use core::time::Duration;

use hyphae_core::security::{Provisioner, Security};
use hyphae_core::{Config, Event, Instant, LinkAddr, LinkInfo, LinkKind, NodeId, RxMeta, SimNode};
use hyphae_wire::Frame;
use libfuzzer_sys::fuzz_target;

struct Setup {
    me: (NodeId, [u8; 32]),
    peer: (NodeId, [u8; 32]),
    net: Provisioner,
    /// Frames the honest peer sent (a beacon and data), sealed.
    peer_frames: Vec<Vec<u8>>,
}

/// The network-key layer alone: the peer's recorded frames stay valid for a fresh node (link
/// sessions and end-to-end envelopes are fuzzed by `core_handshake`).
fn network_key_only() -> Config {
    Config {
        link_sessions: false,
        e2e: false,
        ..Config::default()
    }
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let net = Provisioner::new(&[1; 32], b"fuzz", [2; 32]);
        let me_seed = [3u8; 32];
        let peer_seed = [4u8; 32];
        let me = net.node(&me_seed).map(|n| n.0).unwrap_or(NodeId([0; 8]));
        let (pid, psec) = net.node(&peer_seed).unwrap_or_else(|_| std::process::abort());
        // Let the peer produce some sealed frames addressed to us.
        let mut peer = SimNode::new(network_key_only(), pid, 9);
        let link = peer.add_link(LinkInfo::for_kind(LinkKind::EspNowV1));
        let app = peer.register_app("fuzz").ok();
        let _ = peer.set_security(psec);
        let mut frames = Vec::new();
        let mut now = Instant::ZERO;
        let mut buf = [0u8; 250];
        let _ = link;
        for step in 0..40u64 {
            now = now + Duration::from_millis(300);
            while let Some(e) = peer.poll_event() {
                if let Event::CounterReserve(r) = e {
                    peer.counter_persisted(r);
                }
            }
            if step == 20
                && let Some(app) = app
            {
                let _ = peer.send(now, app, me, b"fuzz payload");
            }
            while let Some(t) = peer.poll_transmit(now, &mut buf) {
                frames.push(buf[..t.len].to_vec());
            }
        }
        Setup {
            me: (me, me_seed),
            peer: (pid, peer_seed),
            net,
            peer_frames: frames,
        }
    })
}

fn secure_node(s: &Setup) -> Option<SimNode> {
    let (id, sec): (NodeId, Security) = s.net.node(&s.me.1).ok()?;
    let mut node = SimNode::new(network_key_only(), id, 7);
    node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))?;
    node.set_security(sec).ok()?;
    Some(node)
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let _ = s.peer.0;
    let Some(mut node) = secure_node(s) else { return };
    let app = node.register_app("fuzz").ok();
    let link = hyphae_core::LinkId(0);
    let peer = LinkAddr::new(&[1; 6]).unwrap_or(LinkAddr::BROADCAST);
    let stranger = LinkAddr::new(&[9; 6]).unwrap_or(LinkAddr::BROADCAST);
    let mut now = Instant::ZERO;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 4 {
            0 => {
                // One of the peer's genuine sealed frames, maybe with one bit flipped.
                let k = usize::from(rest.first().copied().unwrap_or(0));
                let bit = usize::from(rest.get(1).copied().unwrap_or(0)) * 8
                    + usize::from(rest.get(2).copied().unwrap_or(0) & 7);
                rest = rest.get(3..).unwrap_or(&[]);
                if let Some(f) = s.peer_frames.get(k % s.peer_frames.len().max(1)) {
                    let mut f = f.clone();
                    if op & 0x80 != 0
                        && let Some(b) = f.get_mut(bit / 8)
                    {
                        *b ^= 1 << (bit % 8);
                    }
                    node.handle_datagram(now, link, peer, RxMeta::default(), &f);
                }
            }
            1 => {
                let len = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len().saturating_sub(1));
                let bytes = rest.get(1..1 + len).unwrap_or(&[]);
                rest = rest.get(1 + len..).unwrap_or(&[]);
                let from = if op & 0x80 != 0 { peer } else { stranger };
                node.handle_datagram(now, link, from, RxMeta::default(), bytes);
            }
            2 => {
                let ms = u64::from(rest.first().copied().unwrap_or(1));
                rest = rest.get(1..).unwrap_or(&[]);
                now = now + Duration::from_millis(ms * ms);
                node.handle_timeout(now);
            }
            _ => {
                if let Some(app) = app {
                    let _ = node.send(now, app, s.peer.0, &[0x5A; 300]);
                }
            }
        }
        let mut out = [0u8; 250];
        while let Some(t) = node.poll_transmit(now, &mut out) {
            assert!(Frame::parse(&out[..t.len]).is_ok(), "unparsable frame");
            assert!(out[1] & 0x80 != 0, "a secure node emitted an unsealed frame");
        }
        while let Some(e) = node.poll_event() {
            match e {
                Event::CounterReserve(r) => node.counter_persisted(r),
                Event::Delivered(d) => {
                    let mut sink = [0u8; 16_384];
                    let n = node.take_delivery(d.id, &mut sink).unwrap_or(0);
                    // Only the peer's genuine payload can ever arrive.
                    assert_eq!(&sink[..n], b"fuzz payload", "delivered something forged");
                }
                _ => {}
            }
        }
    }
});
