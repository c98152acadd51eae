//! Property tests: `parse(emit(x)) == x` for every representation, and parsing arbitrary bytes
//! never panics.
#![allow(missing_docs, clippy::unwrap_used)]

use hyphae_wire::beacon::{Capabilities, TreeEntry};
use hyphae_wire::device::Qos;
use hyphae_wire::error::Code;
use hyphae_wire::frame::{Body, Frame, FrameRepr};
use hyphae_wire::gossip::Body as GossipBody;
use hyphae_wire::service::Entry;
use hyphae_wire::status::Repr as StatusRepr;
use hyphae_wire::trace::Hop;
use hyphae_wire::tree::Op;
use hyphae_wire::{
    AckRepr, Address, AppId, BeaconRepr, Coords, DevicePacket, DeviceRepr, ErrorRepr, Flags,
    FragmentRepr, GossipRepr, NodeId, PackagePacket, PackageRepr, RoutingPacket, RoutingRepr,
    ServiceRepr, ShortId, SingleRepr, TraceRepr, TreeRepr,
};
use proptest::prelude::*;

fn coords() -> impl Strategy<Value = Coords> {
    prop::collection::vec(prop_oneof![0u16..15, 0u16..=270], 0..=32)
        .prop_map(|l| Coords::new(&l).unwrap())
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        coords().prop_map(Address::Coords),
        any::<[u8; 4]>().prop_map(|b| Address::Short(ShortId(b))),
        any::<[u8; 8]>().prop_map(|b| Address::Node(NodeId(b))),
    ]
}

fn app() -> impl Strategy<Value = AppId> {
    (1u16..0xffff).prop_map(|a| AppId::new(a).unwrap())
}

fn routing() -> impl Strategy<Value = RoutingRepr> {
    (
        any::<u8>(),
        0u8..=7,
        any::<u16>(),
        address(),
        prop::array::uniform2(prop::option::of(coords())),
        address(),
        prop::option::of(any::<[u8; 4]>()),
    )
        .prop_map(|(hop_limit, tree, epoch, dst, alt, src, id)| RoutingRepr {
            hop_limit,
            tree,
            epoch,
            dst,
            // The destination id exists only after a coordinate destination.
            dst_id: id
                .filter(|_| matches!(dst, Address::Coords(_)))
                .map(ShortId),
            // Alternates exist only after a coordinate destination.
            alt: if matches!(dst, Address::Coords(_)) {
                alt
            } else {
                [None; 2]
            },
            src,
        })
}

fn beacon() -> impl Strategy<Value = BeaconRepr> {
    (
        any::<[u8; 8]>(),
        0u8..16,
        any::<u16>(),
        1u8..=255,
        prop::collection::vec(
            (any::<[u8; 4]>(), any::<u16>(), any::<u8>(), coords()),
            0..=8,
        ),
        prop::collection::vec(app(), 0..=16),
    )
        .prop_map(|(node, caps, seq, interval, trees, apps)| {
            let mut b = BeaconRepr::new(NodeId(node), Capabilities(caps), seq, interval);
            for (root, epoch, root_distance, coords) in trees {
                b.push_tree(TreeEntry {
                    root: ShortId(root),
                    epoch,
                    root_distance,
                    coords,
                })
                .unwrap();
            }
            for a in apps {
                b.push_app(a).unwrap();
            }
            b
        })
}

fn check(frame: FrameRepr<'_>) {
    let mut buf = vec![0u8; frame.buffer_len()];
    let n = frame.emit(&mut buf).unwrap();
    assert_eq!(n, buf.len());
    assert_eq!(FrameRepr::parse(&buf).unwrap(), frame);
    // Any truncation fails cleanly (or, for bodies that run to the end, parses shorter).
    for cut in 0..n {
        let _ = FrameRepr::parse(&buf[..cut]);
    }
}

fn frame_with<'a>(
    body: Body<'a>,
    flags: u8,
    routing: Option<RoutingRepr>,
    secure: Option<(u8, u32)>,
) -> FrameRepr<'a> {
    FrameRepr {
        flags: Flags::from_bits(flags & 0x78),
        security: secure.map(|(key_id, counter)| hyphae_wire::security::Repr { key_id, counter }),
        routing,
        body,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn single_round_trips(t in any::<u16>(), a in app(), p in prop::collection::vec(any::<u8>(), 0..300),
                          flags in any::<u8>(), r in prop::option::of(routing()), s in prop::option::of(any::<(u8, u32)>())) {
        check(frame_with(Body::Single(SingleRepr { transfer: t, app: a, payload: &p }), flags, r, s));
    }

    #[test]
    fn fragment_round_trips(t in any::<u16>(), last in any::<u16>(), idx in any::<u16>(), d in prop::collection::vec(any::<u8>(), 0..300),
                            r in prop::option::of(routing())) {
        let index = idx % (last.saturating_add(1)).max(1);
        let index = index.min(last);
        check(frame_with(Body::Fragment(FragmentRepr { transfer: t, index, last, data: &d }), 0, r, None));
    }

    #[test]
    fn ack_round_trips(t in any::<u16>(), base in any::<u16>(), w in any::<u8>(), m in prop::collection::vec(any::<u8>(), 0..=32), rtx in any::<bool>()) {
        check(frame_with(Body::Ack { ack: AckRepr { transfer: t, base, window: w, bitmap: &m }, retransmit: rtx }, 0, None, None));
    }

    #[test]
    fn status_and_notice_round_trip(awake in prop::option::of(any::<u16>()), code in 1u8..=7, t in any::<u16>(), a in address()) {
        let st = awake.map_or(StatusRepr::RequestNodeStatus, |awake_ms| StatusRepr::NodeIsActive { awake_ms });
        check(FrameRepr::new(Body::Status(st)));
        let code = Code::ALL[usize::from(code - 1)];
        check(FrameRepr::new(Body::Notice(ErrorRepr { code, transfer: t, reporter: a })));
    }

    #[test]
    fn beacon_round_trips(b in beacon()) {
        check(FrameRepr::new(Body::Beacon(b)));
    }

    #[test]
    fn tree_round_trips(op in 1u8..=6, tree in 0u8..=7, epoch in any::<u16>(), subject in any::<[u8; 8]>(), a in address()) {
        let op = [Op::Claim, Op::JoinRequest, Op::Assign, Op::Leave, Op::LeaseRequest, Op::LeaseGrant][usize::from(op - 1)];
        check(FrameRepr::new(Body::Tree(TreeRepr { op, tree, epoch, subject: NodeId(subject), address: a })));
    }

    #[test]
    fn gossip_round_trips(h in 0u8..=15, o in any::<[u8; 4]>(), id in any::<u16>(), topic in any::<u16>(),
                          d in prop::collection::vec(any::<u8>(), 0..200), ann in prop::option::of((any::<u16>(), any::<[u8; 4]>()))) {
        let body = ann.map_or(GossipBody::Data(&d), |(length, digest)| GossipBody::Announce { length, digest });
        check(FrameRepr::new(Body::Gossip(GossipRepr { hops_left: h, origin: ShortId(o), id, topic, body })));
    }

    #[test]
    fn service_round_trips(p in any::<[u8; 8]>(), seq in any::<u16>(), ttl in any::<u8>(),
                           e in prop::collection::vec((app(), "[a-z0-9/-]{1,32}"), 0..=8)) {
        let mut s = ServiceRepr::new(NodeId(p), seq, ttl);
        for (a, n) in &e {
            s.push(Entry { app: *a, name: n }).unwrap();
        }
        check(FrameRepr::new(Body::Service(s)));
    }

    #[test]
    fn trace_round_trips(probe in any::<u16>(), reply in any::<bool>(),
                         hops in prop::collection::vec((any::<[u8; 4]>(), any::<i8>(), any::<u8>(), any::<u16>()), 0..=32)) {
        let mut t = TraceRepr::new(probe, reply);
        for (n, rssi, quality, latency_ms) in hops {
            t.push(Hop { node: ShortId(n), rssi, quality, latency_ms }).unwrap();
        }
        check(FrameRepr::new(Body::Trace(t)));
    }

    #[test]
    fn package_round_trips(a in app(), p in prop::collection::vec(any::<u8>(), 0..500)) {
        let h = PackageRepr::for_payload(a, &p).unwrap();
        let mut buf = [0u8; 10];
        h.emit(&mut PackagePacket::new_unchecked(&mut buf)).unwrap();
        prop_assert_eq!(PackageRepr::parse(&PackagePacket::new_unchecked(&buf)).unwrap(), h);
        prop_assert!(h.verify(&p).is_ok());
    }

    #[test]
    fn device_round_trips(keepalive in any::<u16>(), mac in any::<[u8; 6]>(), name in prop::option::of("[a-zA-Z0-9 ]{1,32}"),
                          qos1 in any::<bool>(), retain in any::<bool>(), pid in any::<u16>(), topic in "[a-z0-9/_]{1,64}",
                          payload in prop::collection::vec(any::<u8>(), 0..400)) {
        let packets = [
            DeviceRepr::Connect { keepalive, mac, name: name.as_deref() },
            DeviceRepr::Publish {
                qos: if qos1 { Qos::AtLeastOnce } else { Qos::AtMostOnce },
                retain,
                packet_id: if qos1 { pid } else { 0 },
                topic: &topic,
                payload: &payload,
            },
        ];
        for p in packets {
            let mut buf = vec![0u8; p.buffer_len()];
            p.emit(&mut DevicePacket::new_unchecked(&mut buf[..])).unwrap();
            prop_assert_eq!(DeviceRepr::parse(&DevicePacket::new_checked(&buf[..]).unwrap()).unwrap(), p);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(f) = Frame::parse(&bytes) {
            let _ = f.body();
        }
        if let Ok(f) = FrameRepr::parse(&bytes) {
            // Whatever parses re-emits; insecure frames to the very same bytes.
            let mut buf = vec![0u8; f.buffer_len()];
            prop_assert!(f.emit(&mut buf).is_ok());
            if f.security.is_none() {
                prop_assert_eq!(&buf, &bytes);
            }
        }
        if let Ok(p) = DeviceRepr::parse(&DevicePacket::new_unchecked(&bytes[..])) {
            // Whatever parses re-emits to the same bytes.
            let mut buf = vec![0u8; p.buffer_len()];
            p.emit(&mut DevicePacket::new_unchecked(&mut buf[..])).unwrap();
            prop_assert_eq!(&buf, &bytes);
        }
        let _ = Address::parse(&bytes);
        let _ = PackageRepr::parse(&PackagePacket::new_unchecked(&bytes[..]));
        let _ = RoutingRepr::parse(&RoutingPacket::new_unchecked(&bytes[..]));
    }

    #[test]
    fn valid_headers_with_random_bodies_never_panic(kind in 1u8..=12, control in 0u8..=4, rest in prop::collection::vec(any::<u8>(), 0..120)) {
        let mut bytes = vec![0x40 | kind, control];
        bytes.extend_from_slice(&rest);
        if let Ok(f) = FrameRepr::parse(&bytes) {
            let mut buf = vec![0u8; f.buffer_len()];
            prop_assert!(f.emit(&mut buf).is_ok());
            prop_assert_eq!(&buf, &bytes);
        }
    }
}

/// The view contract: once `new_checked` succeeds, no accessor panics, whatever the bytes.
fn touch_every_accessor(bytes: &[u8]) {
    use hyphae_wire::fragment::Form;
    use hyphae_wire::*;
    if let Ok(p) = HeaderPacket::new_checked(bytes) {
        let _ = (p.version(), p.routed(), p.kind(), p.control(), p.flags());
    }
    if let Ok(p) = SecurityPacket::new_checked(bytes) {
        let _ = (p.key_id(), p.counter());
    }
    if let Ok(p) = RoutingPacket::new_checked(bytes) {
        let _ = (
            p.hop_limit(),
            p.tree(),
            p.epoch(),
            p.addresses(),
            p.header_len(),
        );
    }
    if let Ok(p) = SinglePacket::new_checked(bytes) {
        let _ = (p.transfer(), p.app(), p.payload());
    }
    for form in [Form::Compact, Form::Large] {
        if let Ok(p) = FragmentPacket::new_checked(bytes, form) {
            let _ = (p.transfer(), p.index(), p.last(), p.data());
        }
    }
    if let Ok(p) = AckPacket::new_checked(bytes) {
        let _ = (p.transfer(), p.base(), p.window(), p.bitmap());
    }
    if let Ok(p) = StatusPacket::new_checked(bytes) {
        let _ = p.awake_ms();
    }
    if let Ok(p) = ErrorPacket::new_checked(bytes) {
        let _ = (p.code(), p.transfer(), p.reporter());
    }
    if let Ok(p) = BeaconPacket::new_checked(bytes) {
        let _ = (
            p.node(),
            p.caps(),
            p.seq(),
            p.interval(),
            p.tree_count(),
            p.lists(),
        );
        let _ = p.trees().count();
        if let Ok(apps) = p.apps() {
            let _ = apps.count();
        }
    }
    if let Ok(p) = TreePacket::new_checked(bytes) {
        let _ = (p.op(), p.tree(), p.epoch(), p.subject(), p.address());
    }
    if let Ok(p) = GossipPacket::new_checked(bytes) {
        let _ = (
            p.hops_left(),
            p.announce(),
            p.origin(),
            p.id(),
            p.topic(),
            p.payload(),
        );
        if p.announce() {
            let _ = (p.announced_length(), p.announced_digest());
        }
    }
    if let Ok(p) = ServicePacket::new_checked(bytes) {
        let _ = (p.provider(), p.seq(), p.ttl(), p.count(), p.entries());
    }
    if let Ok(p) = TracePacket::new_checked(bytes) {
        let _ = (p.probe(), p.reply(), p.hops().count());
    }
    if let Ok(p) = PackagePacket::new_checked(bytes) {
        let _ = (p.app(), p.length(), p.crc(), p.payload());
    }
    if let Ok(p) = DevicePacket::new_checked(bytes) {
        let _ = (p.packet_type(), p.flags(), p.header_len(), p.body());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn checked_views_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        touch_every_accessor(&bytes);
    }

    #[test]
    fn every_body_parser_on_arbitrary_bytes(kind in 1u8..=12, control in 0u8..=4,
                                           bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        use hyphae_wire::header::{Control, Kind};
        let kind = Kind::try_from(kind).unwrap();
        let control = Control::try_from(control).unwrap();
        if let Ok(b) = Body::parse(kind, control, &bytes) {
            // Canonical: what parses re-emits to the same bytes.
            let mut buf = vec![0u8; b.buffer_len()];
            prop_assert_eq!(b.emit(&mut buf).unwrap(), bytes.len());
            prop_assert_eq!(&buf, &bytes);
        }
    }
}
