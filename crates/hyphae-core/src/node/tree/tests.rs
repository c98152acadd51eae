use super::*;
use hyphae_wire::{FragmentRepr, SingleRepr};

fn routed(body: Body<'_>, buf: &mut [u8]) -> usize {
    let frame = FrameRepr {
        flags: Flags::default().with_ack_requested(true),
        security: None,
        routing: Some(RoutingRepr {
            hop_limit: 9,
            tree: 1,
            epoch: 77,
            dst: Address::Coords(Coords::new(&[1, 2, 3]).unwrap()),
            dst_id: None,
            alt: [None; 2],
            src: Address::Node(NodeId([5; 8])),
        }),
        body,
    };
    frame.emit(buf).unwrap()
}

#[test]
fn keys_tell_fragments_and_kinds_apart() {
    let app = AppId::new(0x1234).unwrap();
    let src = NodeId([5; 8]);
    let (mut a, mut b, mut c) = ([0u8; 64], [0u8; 64], [0u8; 64]);
    let la = routed(
        Body::Fragment(FragmentRepr {
            transfer: 3,
            index: 0,
            last: 4,
            data: b"xy",
        }),
        &mut a,
    );
    let lb = routed(
        Body::Fragment(FragmentRepr {
            transfer: 3,
            index: 1,
            last: 4,
            data: b"xy",
        }),
        &mut b,
    );
    let lc = routed(
        Body::Single(SingleRepr {
            transfer: 3,
            app,
            payload: b"xy",
        }),
        &mut c,
    );
    let fa = Frame::parse(&a[..la]).unwrap();
    let fb = Frame::parse(&b[..lb]).unwrap();
    let fc = Frame::parse(&c[..lc]).unwrap();
    let keys = [
        frame_key(&src, &fa),
        frame_key(&src, &fb),
        frame_key(&src, &fc),
    ];
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    assert_eq!(frame_key(&src, &fa), keys[0]);
    assert_ne!(frame_key(&NodeId([6; 8]), &fa), keys[0]);
    assert_eq!(data_transfer(&fc), Some(3));
}

#[test]
fn reemit_rewrites_the_header_and_keeps_the_body() {
    let app = AppId::new(0x1234).unwrap();
    let mut a = [0u8; 64];
    let la = routed(
        Body::Single(SingleRepr {
            transfer: 3,
            app,
            payload: b"hello",
        }),
        &mut a,
    );
    let f = Frame::parse(&a[..la]).unwrap();
    let hdr = RoutingRepr {
        hop_limit: 8,
        tree: 2,
        epoch: 5,
        dst: Address::Coords(Coords::new(&[4, 20, 1, 1, 1]).unwrap()),
        dst_id: None,
        alt: [Some(Coords::new(&[7, 1]).unwrap()), None],
        src: Address::Node(NodeId([5; 8])),
    };
    let mut out = [0u8; 64];
    let n = reemit(&f, &hdr, f.body, true, true, &mut out).unwrap();
    let back = FrameRepr::parse(&out[..n]).unwrap();
    assert_eq!(back.routing, Some(hdr));
    assert!(back.flags.error() && back.flags.throttle() && back.flags.ack_requested());
    assert_eq!(
        back.body,
        Body::Single(SingleRepr {
            transfer: 3,
            app,
            payload: b"hello",
        })
    );
    // Too small a buffer: refused, no panic.
    assert!(reemit(&f, &hdr, f.body, false, false, &mut out[..10]).is_none());
}
