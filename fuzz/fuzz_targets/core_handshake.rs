//! The handshake path of a secure hyphae-core `Node`: a node that already has a link session
//! and an end-to-end session with its neighbour is fed Handshake bodies (link ops 1–3,
//! end-to-end ops 4–7, anything else) that authenticate under the network key — one hop with
//! the neighbour's node id first, or routed from a stranger — plus the neighbour's genuine
//! handshake frames with fuzzer-chosen bit flips, timeouts and sends. It must never panic,
//! everything it emits must be sealed and parse, and nothing but the neighbour's genuine payload
//! may ever be delivered.
#![no_main]

use std::sync::OnceLock;

use core::time::Duration;

use hyphae_core::security::Provisioner;
use hyphae_core::{
    Config, Event, Instant, LinkAddr, LinkId, LinkInfo, LinkKind, NodeId, RxMeta, SimNode,
};
use hyphae_crypto::frame::Protection;
use hyphae_crypto::{NetworkKey, Suite};
use hyphae_wire::frame::{Body, FrameRepr};
use hyphae_wire::{Address, Frame, RoutingRepr};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [2; 32];

struct Setup {
    net: Provisioner,
    ids: [NodeId; 2],
}

fn addr(i: usize) -> LinkAddr {
    LinkAddr::new(&[1, 0, 0, 0, 0, i as u8]).unwrap_or(LinkAddr::BROADCAST)
}

fn pair(net: &Provisioner) -> Option<(Vec<SimNode>, [NodeId; 2])> {
    let mut nodes = Vec::new();
    let mut ids = [NodeId([0; 8]); 2];
    for i in 0..2 {
        let (id, sec) = net.node(&[i as u8 + 3; 32]).ok()?;
        let mut n = SimNode::new(
            Config {
                beacon_interval: Duration::from_millis(300),
                ..Config::default()
            },
            id,
            i as u64,
        );
        n.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))?;
        n.register_app("fuzz").ok()?;
        n.set_security(sec).ok()?;
        ids[i] = id;
        nodes.push(n);
    }
    Some((nodes, ids))
}

/// Run both nodes for `ms`, recording every frame.
fn step(nodes: &mut [SimNode], now: &mut Instant, ms: u64, log: &mut Vec<(usize, Vec<u8>)>) {
    let mut buf = [0u8; 250];
    for _ in 0..ms {
        *now = *now + Duration::from_millis(1);
        for i in 0..2 {
            while let Some(t) = nodes[i].poll_transmit(*now, &mut buf) {
                log.push((i, buf[..t.len].to_vec()));
                nodes[1 - i].handle_datagram(
                    *now,
                    LinkId(0),
                    addr(i),
                    RxMeta::default(),
                    &buf[..t.len],
                );
            }
            while let Some(e) = nodes[i].poll_event() {
                if let Event::CounterReserve(r) = e {
                    nodes[i].counter_persisted(r);
                }
            }
        }
    }
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let net = Provisioner::new(&[1; 32], b"fuzz", KEY);
        let Some((nodes, ids)) = pair(&net) else {
            std::process::abort()
        };
        drop(nodes);
        Setup { net, ids }
    })
}

/// Seal a plain frame as `sender` under the network key (what an insider can do).
fn seal_as(sender: NodeId, counter: u32, plain: &[u8]) -> Option<Vec<u8>> {
    let f = Frame::parse(plain).ok()?;
    let mut out = vec![0u8; plain.len() + 21];
    out[..2].copy_from_slice(&plain[..2]);
    out[7..7 + plain.len() - 2].copy_from_slice(&plain[2..]);
    let key = NetworkKey::new(KEY, 0).frame_key(Suite::default());
    hyphae_crypto::seal_frame(
        &key,
        &hyphae_crypto::NodeId(sender.0),
        counter,
        &mut out,
        f.body_offset + 5,
        Protection::for_kind(plain[0] & 0x1f),
    )
    .ok()?;
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    // Replay the honest history into a fresh pair so node 0 is in the same state every run.
    let Some((mut nodes, _)) = pair(&s.net) else {
        return;
    };
    let mut now = Instant::ZERO;
    let mut log = Vec::new();
    step(&mut nodes, &mut now, 2000, &mut log);
    let app = hyphae_core::AppId::from_name("fuzz").unwrap_or(hyphae_core::AppId(1));
    let _ = nodes[1].send(now, app, s.ids[0], b"fuzz payload");
    step(&mut nodes, &mut now, 500, &mut log);
    let mut node = nodes.swap_remove(0);
    let handshakes: Vec<&Vec<u8>> = log
        .iter()
        .filter(|(i, f)| *i == 1 && f.first().is_some_and(|b| b & 0x1f == 12))
        .map(|(_, f)| f)
        .collect();
    let mut counter = 1u32 << 20;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let len = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len().saturating_sub(1));
        let body = rest.get(1..1 + len).unwrap_or(&[]).to_vec();
        rest = rest.get(1 + len..).unwrap_or(&[]);
        counter = counter.wrapping_add(1);
        let bytes = match op % 4 {
            0 => {
                // One hop, named as the neighbour.
                let mut b = body;
                if b.len() >= 8 {
                    b[..8].copy_from_slice(&s.ids[1].0);
                }
                let mut buf = [0u8; 250];
                FrameRepr::new(Body::Handshake(&b))
                    .emit(&mut buf)
                    .ok()
                    .and_then(|n| seal_as(s.ids[1], counter, &buf[..n]))
            }
            1 => {
                // Routed from a stranger to us, relayed by the neighbour.
                let mut buf = [0u8; 250];
                let frame = FrameRepr {
                    flags: Default::default(),
                    security: None,
                    routing: Some(RoutingRepr {
                        hop_limit: 8,
                        tree: 0,
                        epoch: 0,
                        src: Address::Node(NodeId([0xEE; 8])),
                        dst: Address::Node(node.id()),
                        dst_id: None,
                        alt: [None; 2],
                    }),
                    body: Body::Handshake(&body),
                };
                frame
                    .emit(&mut buf)
                    .ok()
                    .and_then(|n| seal_as(s.ids[1], counter, &buf[..n]))
            }
            2 => {
                // A genuine handshake frame of the neighbour, maybe with one bit flipped.
                let k = usize::from(body.first().copied().unwrap_or(0));
                handshakes.get(k % handshakes.len().max(1)).map(|f| {
                    let mut f = (*f).clone();
                    let bit = usize::from(body.get(1).copied().unwrap_or(0)) * 8
                        + usize::from(body.get(2).copied().unwrap_or(0) & 7);
                    if op & 0x80 != 0
                        && let Some(b) = f.get_mut(bit / 8)
                    {
                        *b ^= 1 << (bit % 8);
                    }
                    f
                })
            }
            _ => {
                let ms = u64::from(body.first().copied().unwrap_or(1));
                now = now + Duration::from_millis(ms * ms);
                node.handle_timeout(now);
                None
            }
        };
        if let Some(b) = bytes {
            node.handle_datagram(now, LinkId(0), addr(1), RxMeta::default(), &b);
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
                    assert_eq!(&sink[..n], b"fuzz payload", "delivered something forged");
                }
                _ => {}
            }
        }
    }
});
