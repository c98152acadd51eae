//! Cost probe for docs/BENCHMARKS.md: static RAM of an `McuNode`, and a receiver fed every frame
//! of a 64 KiB transfer (run under callgrind with `--toggle-collect='*handle_datagram*'` to count
//! instructions per received frame).
//!
//! `cargo run --release -p hyphae-core --example rxcost`

#![allow(clippy::unwrap_used)] // a probe, not library code

use hyphae_core::{
    Config, Event, Instant, LinkAddr, LinkId, LinkInfo, LinkKind, McuNode, NodeId, RxMeta, SimNode,
};

/// The receive path being measured (callgrind: `--toggle-collect=rxcost::measured_rx`).
#[inline(never)]
fn measured_rx(node: &mut McuNode, now: Instant, link: LinkId, from: LinkAddr, bytes: &[u8]) {
    node.handle_datagram(now, link, from, RxMeta::default(), bytes);
}

fn main() {
    println!("size_of::<McuNode>() = {} bytes", size_of::<McuNode>());
    println!("size_of::<SimNode>() = {} bytes", size_of::<SimNode>());
    let mut a = Box::new(McuNode::new(
        Config {
            insecure: true,
            ..Config::default()
        },
        NodeId([1; 8]),
        1,
    ));
    let mut b = Box::new(McuNode::new(
        Config {
            insecure: true,
            ..Config::default()
        },
        NodeId([2; 8]),
        2,
    ));
    let la = a.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)).unwrap();
    let lb = b.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)).unwrap();
    let app = a.register_app("bulk").unwrap();
    b.register_app("bulk").unwrap();
    let (addr_a, addr_b) = (
        LinkAddr::new(&[1; 6]).unwrap(),
        LinkAddr::new(&[2; 6]).unwrap(),
    );
    let mut buf = [0u8; 250];
    let mut now = Instant::ZERO;
    // Beacons both ways.
    for _ in 0..400 {
        now = now + core::time::Duration::from_millis(10);
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            b.handle_datagram(now, lb, addr_a, RxMeta::default(), &buf[..t.len]);
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle_datagram(now, la, addr_b, RxMeta::default(), &buf[..t.len]);
        }
    }
    let data = vec![0x5au8; 64 * 1024];
    a.send(now, app, NodeId([2; 8]), &data).unwrap();
    let mut frames = 0u64;
    let mut delivered = false;
    let mut out = vec![0u8; 64 * 1024];
    while !delivered && frames < 100_000 {
        now = now + core::time::Duration::from_millis(3);
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            measured_rx(&mut b, now, lb, addr_a, &buf[..t.len]);
            frames += 1;
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle_datagram(now, la, addr_b, RxMeta::default(), &buf[..t.len]);
        }
        while let Some(e) = b.poll_event() {
            if let Event::Delivered(d) = e {
                b.take_delivery(d.id, &mut out).unwrap();
                delivered = true;
            }
        }
        while a.poll_event().is_some() {}
    }
    assert!(delivered && out == data);
    println!("frames received by b during the transfer: {frames}");
}
