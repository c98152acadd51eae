//! Parse + emit throughput of typical frames.
//!
//! `cargo bench -p hyphae-wire --bench wire`
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use hyphae_wire::beacon::{Capabilities, TreeEntry};
use hyphae_wire::frame::{Body, Frame, FrameRepr};
use hyphae_wire::{
    AckRepr, Address, AppId, BeaconRepr, Coords, FragmentRepr, NodeId, RoutingRepr, SecurityRepr,
    ShortId, SingleRepr,
};

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let payload = [0x5a; 244];
    let coords = Coords::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let routing = RoutingRepr {
        hop_limit: 16,
        tree: 0,
        epoch: 1,
        dst: Address::Coords(coords),
        dst_id: None,
        alt: [None; 2],
        src: Address::Coords(Coords::new(&[1, 2, 3, 9, 10, 11, 12, 13]).unwrap()),
    };
    let single = |p| {
        Body::Single(SingleRepr {
            transfer: 1,
            app: AppId::new(0x1234).unwrap(),
            payload: p,
        })
    };
    let routed = FrameRepr {
        routing: Some(routing),
        ..FrameRepr::new(single(&payload[..230]))
    };
    let secure = FrameRepr {
        routing: Some(routing),
        security: Some(SecurityRepr {
            key_id: 1,
            counter: 77,
        }),
        ..FrameRepr::new(single(&payload[..209]))
    };
    let fragment = FrameRepr::new(Body::Fragment(FragmentRepr {
        transfer: 9,
        index: 3,
        last: 200,
        data: &payload[..244],
    }));
    let ack = FrameRepr::new(Body::Ack {
        ack: AckRepr {
            transfer: 9,
            base: 40,
            window: 64,
            bitmap: &[0xff, 0xef, 0xff, 0x7f],
        },
        retransmit: false,
    });
    let mut beacon = BeaconRepr::new(NodeId([7; 8]), Capabilities(Capabilities::ROUTER), 42, 10);
    for t in 0..3 {
        beacon
            .push_tree(TreeEntry {
                root: ShortId([t; 4]),
                epoch: 5,
                root_distance: 3,
                coords: Coords::new(&[1, 2, 3]).unwrap(),
            })
            .unwrap();
    }
    for a in 1..=4 {
        beacon.push_app(AppId::new(a).unwrap()).unwrap();
    }
    let beacon = FrameRepr::new(Body::Beacon(beacon));
    [
        ("routed-single-250", routed),
        ("routed-secure-250", secure),
        ("fragment-250", fragment),
        ("ack", ack),
        ("beacon-3-trees", beacon),
    ]
    .into_iter()
    .map(|(name, f)| {
        let mut buf = vec![0u8; f.buffer_len()];
        f.emit(&mut buf).unwrap();
        (name, buf)
    })
    .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire");
    for (name, bytes) in frames() {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        // Project the parsed frame to a small value: black-boxing the whole `FrameRepr`
        // (800 bytes on x86-64, sized for the largest body) would measure a memcpy.
        g.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| {
                let f = FrameRepr::parse(black_box(&bytes)).unwrap();
                black_box(f.body.buffer_len())
            })
        });
        g.bench_function(format!("split/{name}"), |b| {
            b.iter(|| black_box(Frame::parse(black_box(&bytes)).unwrap().body_offset))
        });
        g.bench_function(format!("parse+emit/{name}"), |b| {
            let mut out = [0u8; 256];
            b.iter(|| {
                let f = FrameRepr::parse(black_box(&bytes)).unwrap();
                black_box(f.emit(&mut out).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
