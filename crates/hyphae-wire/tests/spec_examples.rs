//! The worked examples of `docs/spec/frames.md` §8 and `docs/spec/device.md`: each value below
//! is emitted, its hex must appear verbatim in the spec, and the bytes must parse back to it.
#![allow(missing_docs, clippy::unwrap_used)]

use hyphae_wire::beacon::{Capabilities, TreeEntry};
use hyphae_wire::device::{Qos, ReturnCode};
use hyphae_wire::error::Code;
use hyphae_wire::fragment::Form;
use hyphae_wire::gossip::Body as GossipBody;
use hyphae_wire::service::Entry;
use hyphae_wire::trace::Hop;
use hyphae_wire::tree::Op;
use hyphae_wire::*;

const FRAMES: &str = include_str!("../../../docs/spec/frames.md");
const DEVICE: &str = include_str!("../../../docs/spec/device.md");

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The spec text with the `|` field separators removed and runs of spaces collapsed.
fn normalized(spec: &str) -> String {
    spec.replace('|', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

fn assert_in_spec(spec: &str, what: &str, bytes: &[u8]) {
    let h = hex(bytes);
    assert!(
        normalized(spec).contains(&h),
        "{what}: `{h}` is not in the spec"
    );
}

fn app(v: u16) -> AppId {
    AppId::new(v).unwrap()
}

fn routed() -> FrameRepr<'static> {
    FrameRepr {
        flags: Flags::default().with_ack_requested(true),
        security: None,
        routing: Some(RoutingRepr {
            hop_limit: 7,
            tree: 1,
            epoch: 0x0102,
            dst: Address::Coords(Coords::new(&[3, 0, 20, 1]).unwrap()),
            dst_id: None,
            alt: [None; 2],
            src: Address::Short(ShortId([1, 2, 3, 4])),
        }),
        body: Body::Single(SingleRepr {
            transfer: 7,
            app: app(0x1234),
            payload: b"hi",
        }),
    }
}

fn frame_bytes(f: &FrameRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; f.buffer_len()];
    f.emit(&mut buf).unwrap();
    buf
}

#[test]
fn frames_examples() {
    // Common header.
    let h = HeaderRepr {
        routed: true,
        kind: Kind::Single,
        control: Control::None,
        flags: Flags::default().with_ack_requested(true).with_secure(true),
    };
    let mut b = [0u8; 2];
    h.emit(&mut HeaderPacket::new_unchecked(&mut b)).unwrap();
    assert_in_spec(FRAMES, "common header", &b);
    assert_eq!(HeaderRepr::parse(&HeaderPacket::new_unchecked(&b)), Ok(h));

    // Addresses.
    for a in [
        Address::Coords(Coords::new(&[3, 0, 20, 1]).unwrap()),
        Address::Short(ShortId([1, 2, 3, 4])),
    ] {
        let mut b = vec![0u8; a.buffer_len()];
        a.emit(&mut b).unwrap();
        assert_in_spec(FRAMES, "address", &b);
        assert_eq!(Address::parse(&b), Ok((a, b.len())));
    }
    assert!(FRAMES.contains("→ descriptor `0x04`, nibbles `3 0 F 0 5 1` → bytes `30 F0 51`"));

    // The routed Single frame, then sealed.
    let f = routed();
    let b = frame_bytes(&f);
    assert_in_spec(FRAMES, "routed single", &b);
    assert_eq!(FrameRepr::parse(&b), Ok(f));
    let sealed = FrameRepr {
        security: Some(SecurityRepr {
            key_id: 1,
            counter: 9,
        }),
        ..f
    };
    let b = frame_bytes(&sealed);
    assert_in_spec(FRAMES, "sealed prefix", &b[..7]);
    assert_eq!(Frame::parse(&b).unwrap().body_offset, 20);
    assert!(FRAMES.contains("the body starts at offset 20"));

    // Bodies, each with its own view.
    let body = |b: Body<'_>| {
        let mut buf = vec![0u8; b.buffer_len()];
        b.emit(&mut buf).unwrap();
        let (kind, control) = b.kind_and_control();
        assert_eq!(Body::parse(kind, control, &buf), Ok(b));
        buf
    };
    let compact = body(Body::Fragment(FragmentRepr {
        transfer: 5,
        index: 2,
        last: 9,
        data: &[0xaa, 0xbb],
    }));
    assert_in_spec(FRAMES, "fragment", &compact);
    assert_eq!(
        FragmentPacket::new_checked(&compact[..], Form::Compact)
            .unwrap()
            .data(),
        &[0xaa, 0xbb]
    );
    let large = body(Body::Fragment(FragmentRepr {
        transfer: 5,
        index: 299,
        last: 300,
        data: &[0xcc],
    }));
    assert_in_spec(FRAMES, "fragment large", &large);
    let ack = body(Body::Ack {
        ack: AckRepr {
            transfer: 5,
            base: 10,
            window: 16,
            bitmap: &[0x05, 0x80],
        },
        retransmit: false,
    });
    assert_in_spec(FRAMES, "ack", &ack);
    let nia = body(Body::Status(StatusRepr::NodeIsActive { awake_ms: 1000 }));
    assert_in_spec(FRAMES, "status", &nia);
    let notice = body(Body::Notice(ErrorRepr {
        code: Code::Unreachable,
        transfer: 9,
        reporter: Address::Short(ShortId([0xaa, 0xbb, 0xcc, 0xdd])),
    }));
    assert_in_spec(FRAMES, "error", &notice);

    let mut beacon = BeaconRepr::new(
        NodeId([1, 2, 3, 4, 5, 6, 7, 8]),
        Capabilities(Capabilities::ROUTER | Capabilities::GATEWAY),
        42,
        10,
    );
    beacon
        .push_tree(TreeEntry {
            root: ShortId([9; 4]),
            epoch: 5,
            root_distance: 2,
            coords: Coords::new(&[1, 3]).unwrap(),
        })
        .unwrap();
    beacon.push_app(app(0x1234)).unwrap();
    beacon.push_app(app(0x5678)).unwrap();
    assert_in_spec(FRAMES, "beacon", &body(Body::Beacon(beacon)));

    let tree = body(Body::Tree(TreeRepr {
        op: Op::Assign,
        tree: 1,
        epoch: 7,
        subject: NodeId([1, 2, 3, 4, 5, 6, 7, 8]),
        address: Address::Coords(Coords::new(&[4]).unwrap()),
    }));
    assert_in_spec(FRAMES, "tree", &tree);

    let gossip = |b| {
        body(Body::Gossip(GossipRepr {
            hops_left: 3,
            origin: ShortId([1, 2, 3, 4]),
            id: 16,
            topic: 0x1122,
            body: b,
        }))
    };
    assert_in_spec(FRAMES, "gossip", &gossip(GossipBody::Data(b"ok")));
    let ann = gossip(GossipBody::Announce {
        length: 1024,
        digest: [9, 8, 7, 6],
    });
    assert_in_spec(FRAMES, "gossip announce head", &ann[..1]);
    assert_in_spec(FRAMES, "gossip announce tail", &ann[7..]);

    let mut svc = ServiceRepr::new(NodeId([1, 2, 3, 4, 5, 6, 7, 8]), 1, 6);
    svc.push(Entry {
        app: app(0x1234),
        name: "mqtt",
    })
    .unwrap();
    assert_in_spec(FRAMES, "service", &body(Body::Service(svc)));

    let mut trace = TraceRepr::new(1, true);
    trace
        .push(Hop {
            node: ShortId([1, 2, 3, 4]),
            rssi: -60,
            quality: 200,
            latency_ms: 12,
        })
        .unwrap();
    assert_in_spec(FRAMES, "trace", &body(Body::Trace(trace)));

    let pkg = PackageRepr::for_payload(app(0x1234), b"123456789").unwrap();
    let mut b = [0u8; 10];
    pkg.emit(&mut b[..]).unwrap();
    assert_in_spec(FRAMES, "package", &b);
    assert_eq!(
        PackageRepr::parse(&PackagePacket::new_unchecked(&b)),
        Ok(pkg)
    );
}

#[test]
fn sizes_table() {
    use hyphae_wire::sizes::{Layout, max_payload};
    let rows = [
        ("single, one hop", Layout::Single, 0),
        ("fragment data, one hop", Layout::Fragment, 0),
        ("routed single, coordinates at depth 4", Layout::Routed, 4),
        ("routed single, depth 8", Layout::Routed, 8),
        ("routed single, depth 12", Layout::Routed, 12),
    ];
    for (label, layout, depth) in rows {
        let line = format!(
            "| {label} | {} | {} |",
            max_payload(250, layout, depth, false),
            max_payload(250, layout, depth, true)
        );
        assert!(FRAMES.contains(&line), "missing `{line}`");
    }
    for (name, mtu) in [
        ("ESP-NOW v1", 250),
        ("ESP-NOW v2", 1470),
        ("RYLR-998", 240),
        ("UDP", 1232),
        ("BLE", 244),
    ] {
        let p = |l, d, s| max_payload(mtu, l, d, s);
        let line = format!(
            "| {name} ({mtu}) | {} / {} | {} / {} |",
            p(Layout::Single, 0, false),
            p(Layout::Single, 0, true),
            p(Layout::Routed, 8, false),
            p(Layout::Routed, 8, true)
        );
        assert!(FRAMES.contains(&line), "missing `{line}`");
    }
}

#[test]
fn device_examples() {
    let cases = [
        DeviceRepr::Connect {
            keepalive: 60,
            mac: [0x24, 0x6f, 0x28, 1, 2, 3],
            name: Some("kite"),
        },
        DeviceRepr::ConnAck {
            code: ReturnCode::Accepted,
            session: 7,
        },
        DeviceRepr::Publish {
            qos: Qos::AtLeastOnce,
            retain: false,
            packet_id: 5,
            topic: "temp",
            payload: b"21.5",
        },
    ];
    for r in cases {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut DevicePacket::new_unchecked(&mut b[..]))
            .unwrap();
        assert_in_spec(DEVICE, "device", &b);
        assert_eq!(
            DeviceRepr::parse(&DevicePacket::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
    }
    let payload = [0u8; 300];
    let big = DeviceRepr::Publish {
        qos: Qos::AtMostOnce,
        retain: true,
        packet_id: 0,
        topic: "blob",
        payload: &payload,
    };
    let mut b = vec![0u8; big.buffer_len()];
    big.emit(&mut DevicePacket::new_unchecked(&mut b[..]))
        .unwrap();
    assert_in_spec(DEVICE, "long publish header", &b[..3]);
}

/// Stack cost of the owned representations (docs/BENCHMARKS.md quotes the printout:
/// `cargo test -p hyphae-wire --test spec_examples repr_sizes -- --nocapture`).
#[test]
fn repr_sizes() {
    use core::mem::size_of;
    assert!(size_of::<FrameRepr<'_>>() <= 1024);
    assert!(size_of::<Frame<'_>>() <= 512);
    println!(
        "sizes: FrameRepr {} Body {} Frame {} RoutingRepr {} Address {} Coords {} BeaconRepr {} TraceRepr {} ServiceRepr {}",
        size_of::<FrameRepr<'_>>(),
        size_of::<Body<'_>>(),
        size_of::<Frame<'_>>(),
        size_of::<RoutingRepr>(),
        size_of::<Address>(),
        size_of::<Coords>(),
        size_of::<BeaconRepr>(),
        size_of::<TraceRepr>(),
        size_of::<ServiceRepr<'_>>()
    );
}
