//! Parse + emit throughput of typical frames.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use hyphae_wire::frame::{Body, FrameRepr};
use hyphae_wire::{Address, AppId, Coords, FragmentRepr, RoutingRepr, ShortId, SingleRepr};

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let payload = [0x5a; 200];
    let coords = Coords::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let routed = FrameRepr {
        routing: Some(RoutingRepr {
            hop_limit: 16,
            tree: 0,
            epoch: 1,
            dst: Address::Coords(coords),
            src: Address::Short(ShortId([1, 2, 3, 4])),
        }),
        ..FrameRepr::new(Body::Single(SingleRepr {
            transfer: 1,
            app: AppId::new(0x1234).unwrap(),
            payload: &payload,
        }))
    };
    let fragment = FrameRepr::new(Body::Fragment(FragmentRepr {
        transfer: 9,
        index: 3,
        last: 200,
        data: &payload,
    }));
    [("routed-single-250", routed), ("fragment-250", fragment)]
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
    g.throughput(Throughput::Elements(1));
    for (name, bytes) in frames() {
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
