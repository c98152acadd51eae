//! State tests: build a node already *in* a state (a known peer, a transfer half received), feed
//! it frames built with `hyphae-wire` at explicit instants, and assert on the frames it emits.

#![allow(clippy::unwrap_used)] // test helpers

use core::time::Duration;

use hyphae_core::{
    AppId, Config, DropReason, Event, Instant, LinkId, LinkInfo, LinkKind, RxMeta, SimNode,
};
use hyphae_link::LinkAddr;
use hyphae_wire::beacon::Capabilities;
use hyphae_wire::{AckRepr, BeaconRepr, Body, Flags, FragmentRepr, FrameRepr, NodeId, PackageRepr};

const ME: NodeId = NodeId([2; 8]);
const PEER: NodeId = NodeId([1; 8]);
const TRANSFER: u16 = 0x0042;
const FRAG: usize = 200;

fn peer_addr() -> LinkAddr {
    LinkAddr::new(&[1; 6]).unwrap()
}

/// A node that knows `PEER` (one beacon heard at t = 0) and runs application "files".
fn node_with_peer() -> (SimNode, LinkId, AppId) {
    let mut n = SimNode::new(
        Config {
            insecure: true,
            ..Config::default()
        },
        ME,
        5,
    );
    let link = n.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)).unwrap();
    let app = n.register_app("files").unwrap();
    beacon(&mut n, link, Instant::ZERO);
    assert_eq!(n.poll_event(), Some(Event::PeerUp(PEER)));
    (n, link, app)
}

fn beacon(n: &mut SimNode, link: LinkId, at: Instant) {
    let mut buf = [0u8; 250];
    let beacon = BeaconRepr::new(PEER, Capabilities(Capabilities::ROUTER), 0, 20);
    let len = FrameRepr::new(Body::Beacon(beacon)).emit(&mut buf).unwrap();
    n.handle_datagram(at, link, peer_addr(), RxMeta::default(), &buf[..len]);
}

/// The transfer content (Package header + payload) of a 2 000-byte blob, as 11 fragments.
fn content(app: AppId) -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..2_000u32).map(|i| (i * 7) as u8).collect();
    let header = PackageRepr::for_payload(app, &payload).unwrap();
    let mut c = vec![0u8; hyphae_wire::package::HEADER_LEN];
    header.emit(&mut c[..]).unwrap();
    c.extend_from_slice(&payload);
    (c, payload)
}

fn fragment(n: &mut SimNode, link: LinkId, at: Instant, content: &[u8], index: usize, ack: bool) {
    let count = content.len().div_ceil(FRAG);
    let data = &content[index * FRAG..((index + 1) * FRAG).min(content.len())];
    let frame = FrameRepr {
        flags: Flags::default().with_ack_requested(ack),
        security: None,
        routing: None,
        body: Body::Fragment(FragmentRepr {
            transfer: TRANSFER,
            index: index as u16,
            last: (count - 1) as u16,
            data,
        }),
    };
    let mut buf = [0u8; 250];
    let len = frame.emit(&mut buf).unwrap();
    n.handle_datagram(at, link, peer_addr(), RxMeta::default(), &buf[..len]);
}

/// Every frame the node wants to send at `at`, parsed back into acks (transfer, base, window, bitmap).
fn acks(n: &mut SimNode, at: Instant) -> Vec<(u16, u16, u8, Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 250];
    while let Some(t) = n.poll_transmit(at, &mut buf) {
        let f = FrameRepr::parse(&buf[..t.len]).unwrap();
        if let Body::Ack {
            ack:
                AckRepr {
                    transfer,
                    base,
                    window,
                    bitmap,
                },
            retransmit,
        } = f.body
        {
            assert_eq!(t.to, peer_addr());
            out.push((transfer, base, window, bitmap.to_vec(), retransmit));
        }
    }
    out
}

/// A node that received fragments 0..5 and 7 of an 11-fragment transfer from `PEER` at t = 1 s.
fn transfer_half_received() -> (SimNode, LinkId, AppId, Vec<u8>, Vec<u8>) {
    let (mut n, link, app) = node_with_peer();
    let (c, payload) = content(app);
    let t = Instant::from_secs(1);
    for i in [0, 1, 2, 3, 4, 7] {
        fragment(&mut n, link, t, &c, i, false);
    }
    (n, link, app, c, payload)
}

#[test]
fn delayed_ack_reports_base_and_bitmap() {
    let (mut n, _, _, _, _) = transfer_half_received();
    let t = Instant::from_secs(1);
    assert!(acks(&mut n, t).is_empty(), "no ack before ack_delay");
    let later = t + Config::default().ack_delay;
    let a = acks(&mut n, later);
    // base 5 (0..4 received); bitmap relative to 5: fragment 7 = bit 2.
    assert_eq!(a, vec![(TRANSFER, 5, a[0].2, vec![0b100], false)]);
    assert!(a[0].2 > 0, "a window is advertised");
    assert_eq!(n.transfers(), (0, 1));
}

#[test]
fn ack_request_is_answered_at_once() {
    let (mut n, link, _, c, _) = transfer_half_received();
    let t = Instant::from_secs(1) + Duration::from_millis(1);
    fragment(&mut n, link, t, &c, 5, true);
    let a = acks(&mut n, t);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].1, a[0].3.clone()), (6, vec![0b10]));
}

#[test]
fn completing_delivers_once_and_duplicates_are_reacknowledged() {
    let (mut n, link, app, c, payload) = transfer_half_received();
    let t = Instant::from_secs(2);
    for i in [5, 6, 8, 9, 10] {
        fragment(&mut n, link, t, &c, i, false);
    }
    let mut delivered = Vec::new();
    while let Some(e) = n.poll_event() {
        if let Event::Delivered(d) = e {
            assert_eq!((d.app, d.from, d.broadcast), (app, PEER, false));
            let mut out = vec![0u8; d.len];
            assert_eq!(n.take_delivery(d.id, &mut out), Some(d.len));
            delivered.push(out);
        }
    }
    assert_eq!(delivered, vec![payload]);
    // The final ack: base = count, no bitmap.
    assert_eq!(acks(&mut n, t), vec![(TRANSFER, 11, 255, vec![], false)]);
    // A late duplicate (the final ack was lost): acknowledged again, never delivered again.
    fragment(&mut n, link, t + Duration::from_millis(50), &c, 3, true);
    assert!(!core::iter::from_fn(|| n.poll_event()).any(|e| matches!(e, Event::Delivered(_))));
    assert_eq!(
        acks(&mut n, t + Duration::from_millis(50)),
        vec![(TRANSFER, 11, 255, vec![], false)]
    );
    assert_eq!(n.counters().duplicates, 1);
    assert_eq!(n.transfers(), (0, 0));
}

#[test]
fn partial_state_is_kept_for_the_resume_window_then_dropped() {
    let cfg = Config::default();
    let (mut n, link, _, c, _) = transfer_half_received();
    // Within the resume window the sender picks up where it stopped.
    let resume = Instant::from_secs(1) + cfg.resume_window - Duration::from_secs(1);
    n.handle_timeout(resume);
    assert_eq!(n.transfers(), (0, 1));
    // The sender was silent long enough to be forgotten as a neighbour; it beacons again.
    assert!(n.peers().get(&PEER).is_none());
    beacon(&mut n, link, resume);
    fragment(&mut n, link, resume, &c, 5, true);
    let a = acks(&mut n, resume);
    assert_eq!(
        (a[0].1, a[0].3.clone()),
        (6, vec![0b10]),
        "state survived: base 6, 7 held"
    );
    // After the window without traffic, the state and its memory are released (counted).
    let gone = resume + cfg.resume_window + Duration::from_millis(1);
    n.handle_timeout(gone);
    assert_eq!(n.transfers(), (0, 0));
    assert_eq!(n.inbound_bytes(), 0);
    assert!(n.counters().drop_count(DropReason::Stale) >= 1);
}

#[test]
fn inconsistent_fragment_is_dropped_not_stored() {
    let (mut n, link, _, c, _) = transfer_half_received();
    // Same transfer, but claiming 12 fragments: malformed for this transfer.
    let frame = FrameRepr::new(Body::Fragment(FragmentRepr {
        transfer: TRANSFER,
        index: 5,
        last: 11,
        data: &c[..FRAG],
    }));
    let mut buf = [0u8; 250];
    let len = frame.emit(&mut buf).unwrap();
    let before = n.counters().drop_count(DropReason::Malformed);
    n.handle_datagram(
        Instant::from_secs(1),
        link,
        peer_addr(),
        RxMeta::default(),
        &buf[..len],
    );
    assert_eq!(n.counters().drop_count(DropReason::Malformed), before + 1);
    // A fragment from a stranger's link address is dropped too.
    let stranger = LinkAddr::new(&[9; 6]).unwrap();
    n.handle_datagram(
        Instant::from_secs(1),
        link,
        stranger,
        RxMeta::default(),
        &buf[..len],
    );
    assert_eq!(n.counters().drop_count(DropReason::UnknownSender), 1);
}

#[test]
fn a_transfer_beyond_the_budget_is_refused_too_large() {
    let (mut n, link, app) = node_with_peer();
    // SimNode's reassembly budget is 16 KiB; announce 100 fragments of 200 bytes.
    let data = [0u8; FRAG];
    let frame = FrameRepr {
        flags: Flags::default(),
        security: None,
        routing: None,
        body: Body::Fragment(FragmentRepr {
            transfer: 9,
            index: 0,
            last: 99,
            data: &data,
        }),
    };
    let mut buf = [0u8; 250];
    let len = frame.emit(&mut buf).unwrap();
    n.handle_datagram(
        Instant::from_secs(1),
        link,
        peer_addr(),
        RxMeta::default(),
        &buf[..len],
    );
    assert_eq!(n.transfers(), (0, 0), "nothing allocated");
    assert_eq!(n.inbound_bytes(), 0);
    let mut notices = Vec::new();
    while let Some(t) = n.poll_transmit(Instant::from_secs(1), &mut buf) {
        if let Ok(f) = FrameRepr::parse(&buf[..t.len])
            && let Body::Notice(e) = f.body
        {
            notices.push((e.code, e.transfer));
        }
    }
    assert_eq!(notices, vec![(hyphae_wire::ErrorCode::TooLarge, 9)]);
    let _ = app;
}

/// Drive `n` for 20 s with a message to `PEER` every 2 s and no frame from `PEER`, reporting
/// every unicast frame's link-layer outcome as `ok`; whether `PEER` went down.
fn peer_goes_down_without_beacons(ok: bool) -> bool {
    let (mut n, link, app) = node_with_peer();
    let mut buf = [0u8; 250];
    let mut down = false;
    for step in 1..=200u64 {
        let now = Instant::ZERO + Duration::from_millis(100 * step);
        if step % 20 == 0 {
            let _ = n.send(now, app, PEER, b"still there?");
        }
        n.handle_timeout(now);
        while let Some(t) = n.poll_transmit(now, &mut buf) {
            if t.to == peer_addr() {
                n.handle_link_event(now, link, hyphae_core::LinkEvent::TxDone { ok });
            }
        }
        while let Some(e) = n.poll_event() {
            down |= e == Event::PeerDown(PEER);
        }
    }
    down
}

#[test]
fn a_link_layer_ack_keeps_a_silent_neighbour_alive() {
    // Its beacons are lost (broadcasts collide first), but it acknowledges our frames.
    assert!(!peer_goes_down_without_beacons(true));
    // Without the acknowledgements the peer times out as before.
    assert!(peer_goes_down_without_beacons(false));
}
