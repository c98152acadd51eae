//! A hyphae-core `Node` fed an arbitrary sequence of datagrams (from a known neighbour, an unknown
//! address), timeouts, link events and application sends: it must never panic, and
//! every transmit it produces must parse.
#![no_main]

use core::time::Duration;

use hyphae_core::{
    Config, Instant, LinkAddr, LinkEvent, LinkInfo, LinkKind, NodeId, RxMeta, SimNode,
};
use hyphae_wire::beacon::Capabilities;
use hyphae_wire::frame::{Body, FrameRepr};
use hyphae_wire::{BeaconRepr, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut node = SimNode::new(Config { insecure: true, ..Config::default() }, NodeId([2; 8]), 7);
    let Some(link) = node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)) else {
        return;
    };
    let app = node.register_app("fuzz").ok();
    let peer = LinkAddr::new(&[1; 6]).unwrap_or(LinkAddr::BROADCAST);
    let stranger = LinkAddr::new(&[9; 6]).unwrap_or(LinkAddr::BROADCAST);
    let mut now = Instant::ZERO;
    // A neighbour the fuzzer speaks as.
    let mut buf = [0u8; 250];
    let beacon = BeaconRepr::new(NodeId([1; 8]), Capabilities(Capabilities::ROUTER), 0, 10);
    if let Ok(n) = FrameRepr::new(Body::Beacon(beacon)).emit(&mut buf) {
        node.handle_datagram(now, link, peer, RxMeta::default(), &buf[..n]);
    }
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 5 {
            0 | 1 => {
                let len = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len().saturating_sub(1));
                let bytes = rest.get(1..1 + len).unwrap_or(&[]);
                rest = rest.get(1 + len..).unwrap_or(&[]);
                let from = if op % 4 == 0 { peer } else { stranger };
                node.handle_datagram(now, link, from, RxMeta { rssi: Some(-50), snr: None }, bytes);
            }
            2 => {
                let ms = u64::from(rest.first().copied().unwrap_or(1));
                rest = rest.get(1..).unwrap_or(&[]);
                now = now + Duration::from_millis(ms * ms);
                node.handle_timeout(now);
            }
            4 => {
                let event = match op >> 6 {
                    0 => LinkEvent::TxDone { ok: false },
                    1 => LinkEvent::TxDone { ok: true },
                    2 => LinkEvent::Up(op & 0x20 != 0),
                    _ => LinkEvent::BudgetExhausted,
                };
                node.handle_link_event(now, link, event);
            }
            _ => {
                let len = usize::from(rest.first().copied().unwrap_or(0)) * 40;
                rest = rest.get(1..).unwrap_or(&[]);
                if let Some(app) = app {
                    let payload = [0xA5u8; 10_240];
                    let dest = if op & 0x80 != 0 { NodeId([1; 8]) } else { NodeId([3; 8]) };
                    let _ = node.send(now, app, dest, &payload[..len.min(payload.len())]);
                }
            }
        }
        let mut out = [0u8; 250];
        while let Some(t) = node.poll_transmit(now, &mut out) {
            assert!(Frame::parse(&out[..t.len]).is_ok(), "node emitted an unparsable frame");
        }
        while let Some(e) = node.poll_event() {
            if let hyphae_core::Event::Delivered(d) = e {
                let mut sink = [0u8; 16_384];
                let _ = node.take_delivery(d.id, &mut sink);
            }
        }
        let _ = node.poll_timeout();
    }
});
