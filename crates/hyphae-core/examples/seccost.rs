//! Airtime probe for docs/BENCHMARKS.md: bytes on air for one link setup (the X25519 handshake
//! between two neighbours), for one end-to-end key exchange (one hop and three hops), and the
//! bytes the end-to-end envelope adds to a payload — measured on the frames two or four secure
//! nodes actually emit.
//!
//! `cargo run -q -p hyphae-core --example seccost`

#![allow(clippy::unwrap_used)] // a probe, not library code

use core::time::Duration;

use hyphae_core::security::Provisioner;
use hyphae_core::{
    Config, Event, Instant, LinkAddr, LinkId, LinkInfo, LinkKind, NodeId, Routing, RxMeta, SimNode,
};
use hyphae_wire::Frame;

fn addr(i: usize) -> LinkAddr {
    LinkAddr::new(&[2, 0, 0, 0, 0, i as u8]).unwrap()
}

/// A line of `n` secure nodes with static routes; returns every frame put on the air.
struct Line {
    nodes: Vec<Box<SimNode>>,
    ids: Vec<NodeId>,
    now: Instant,
    air: Vec<(usize, Vec<u8>)>,
}

impl Line {
    fn new(n: usize, config: Config) -> Self {
        let net = Provisioner::new(&[7; 32], b"seccost", [9; 32]);
        let mut nodes = Vec::new();
        let mut ids = Vec::new();
        for i in 0..n {
            let (id, sec) = net.node(&[i as u8 + 1; 32]).unwrap();
            let mut node = Box::new(SimNode::new(config, id, i as u64));
            node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
                .unwrap();
            node.register_app("seccost").unwrap();
            node.set_security(sec).unwrap();
            nodes.push(node);
            ids.push(id);
        }
        for i in 0..n {
            for j in 0..n {
                if i.abs_diff(j) > 1 {
                    let via = if j > i { ids[i + 1] } else { ids[i - 1] };
                    nodes[i].set_route(ids[j], via);
                }
            }
        }
        Self {
            nodes,
            ids,
            now: Instant::ZERO,
            air: Vec::new(),
        }
    }

    fn run(&mut self, ms: u64) -> usize {
        let mut buf = [0u8; 250];
        let mut delivered = 0;
        for _ in 0..ms {
            self.now = self.now + Duration::from_millis(1);
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].poll_transmit(self.now, &mut buf) {
                    self.air.push((i, buf[..t.len].to_vec()));
                    for j in [i.wrapping_sub(1), i + 1] {
                        if j < self.nodes.len() && (t.to.is_broadcast() || t.to == addr(j)) {
                            self.nodes[j].handle_datagram(
                                self.now,
                                LinkId(0),
                                addr(i),
                                RxMeta::default(),
                                &buf[..t.len],
                            );
                        }
                    }
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    match e {
                        Event::CounterReserve(r) => self.nodes[i].counter_persisted(r),
                        Event::Delivered(d) => {
                            self.nodes[i].discard_delivery(d.id);
                            delivered += 1;
                        }
                        _ => {}
                    }
                }
            }
        }
        delivered
    }
}

/// Handshake op of a frame, if it is a Handshake (kind 12).
fn handshake_op(f: &[u8]) -> Option<u8> {
    let frame = Frame::parse(f).ok()?;
    if f[0] & 0x1f != 12 {
        return None;
    }
    // Handshake bodies are authenticated, not encrypted: the op is readable on the air.
    frame.body.get(8).copied()
}

fn handshake_bytes(air: &[(usize, Vec<u8>)], ops: &[u8]) -> (usize, usize) {
    let frames: Vec<_> = air
        .iter()
        .filter(|(_, f)| handshake_op(f).is_some_and(|op| ops.contains(&op)))
        .collect();
    (frames.len(), frames.iter().map(|(_, f)| f.len()).sum())
}

fn main() {
    let fast = Config {
        beacon_interval: Duration::from_millis(500),
        ..Config::default()
    };
    // Link setup between two neighbours.
    let mut two = Line::new(2, fast);
    two.run(3000);
    let (n, bytes) = handshake_bytes(&two.air, &[1, 2, 3]);
    println!("link setup (Init + Response + Confirm): {n} frames, {bytes} B on air");

    // End-to-end key exchange with a neighbour, then a 100-byte payload.
    let mark = two.air.len();
    let (now, app, dest) = (
        two.now,
        hyphae_core::AppId::from_name("seccost").unwrap(),
        two.ids[1],
    );
    two.nodes[0].send(now, app, dest, &[0x5a; 100]).unwrap();
    assert_eq!(two.run(500), 1);
    let (n, bytes) = handshake_bytes(&two.air[mark..], &[4, 5, 7]);
    println!("end-to-end exchange, one hop (2 credentials, offer, accept): {n} frames, {bytes} B");
    let single = |air: &[(usize, Vec<u8>)]| {
        air.iter()
            .filter(|(i, f)| *i == 0 && f[0] & 0x1f == 1)
            .map(|(_, f)| f.len())
            .next()
    };
    let with_e2e = single(&two.air[mark..]).unwrap();

    let mut plain = Line::new(2, Config { e2e: false, ..fast });
    plain.run(3000);
    let mark = plain.air.len();
    let (now, dest) = (plain.now, plain.ids[1]);
    plain.nodes[0].send(now, app, dest, &[0x5a; 100]).unwrap();
    assert_eq!(plain.run(500), 1);
    let without = single(&plain.air[mark..]).unwrap();
    println!(
        "100 B payload in a Single frame: {with_e2e} B with the end-to-end envelope, {without} B \
         without (+{} B per transfer)",
        with_e2e - without
    );

    // End-to-end exchange over three hops (routed Handshake frames, link-keyed per hop).
    let mut four = Line::new(
        4,
        Config {
            routing: Routing::Static,
            ..fast
        },
    );
    four.run(4000);
    let mark = four.air.len();
    let (now, dest) = (four.now, four.ids[3]);
    four.nodes[0].send(now, app, dest, &[0x5a; 100]).unwrap();
    assert_eq!(four.run(1000), 1);
    let routed: Vec<_> = four.air[mark..]
        .iter()
        .filter(|(_, f)| f[0] & 0x1f == 12 && Frame::parse(f).is_ok_and(|fr| fr.routing.is_some()))
        .collect();
    let bytes: usize = routed.iter().map(|(_, f)| f.len()).sum();
    println!(
        "end-to-end exchange over 3 hops: {} frame transmissions, {bytes} B on air (all hops)",
        routed.len()
    );
}
