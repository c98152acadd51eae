//! Scenario and state tests of the node: broadcast, admission, applications, peers, sleep,
//! congestion.

mod common;

use core::time::Duration;

use common::harness::{Channel, World, addr, node_id};
use hyphae_core::{
    Config, DropReason, Event, FailReason, Instant, LinkId, LinkInfo, LinkKind, NodeId, RxMeta,
    SendError, SimNode,
};

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

#[test]
fn multi_frame_broadcast_reaches_every_neighbour_without_acks() {
    let mut w = World::full_mesh(3, Config::default(), Channel::PERFECT, 11);
    let app = w.register_all("news");
    w.settle();
    let data = blob(2_000, 1);
    let acks_before =
        w.nodes[1].counters().control_bytes_out + w.nodes[2].counters().control_bytes_out;
    let id = w.nodes[0].broadcast(w.now, app, &data).unwrap();
    let deadline = w.now + Duration::from_secs(1);
    w.run_until(deadline, |w| {
        w.deliveries(1).count() == 1 && w.deliveries(2).count() == 1
    });
    assert!(matches!(w.outcome(0, id), Some(Ok(_))));
    for n in [1, 2] {
        let d: Vec<_> = w.deliveries(n).collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].payload.as_deref(), Some(&data[..]));
        assert!(matches!(d[0].event, Event::Delivered(x) if x.broadcast && x.from == node_id(0)));
    }
    // Only beacons went out from the receivers (no acks, no notices) during that second.
    let after = w.nodes[1].counters().control_bytes_out + w.nodes[2].counters().control_bytes_out;
    assert!(
        after - acks_before <= 4 * 40,
        "receivers sent {} control bytes",
        after - acks_before
    );
}

#[test]
fn reliable_single_frame_survives_lost_ack_without_duplicate() {
    let mut w = World::full_mesh(2, Config::default(), Channel::PERFECT, 12);
    let app = w.register_all("ping");
    w.settle();
    // Drop everything node 1 says for a while: the ack of the Single is lost, the sender
    // retransmits, the receiver re-acknowledges without delivering twice.
    w.hears[1].clear();
    let id = w.nodes[0].send(w.now, app, node_id(1), b"once").unwrap();
    let t = w.now;
    w.run_until(t + Duration::from_millis(600), |_| false);
    w.hears[1] = vec![0];
    w.run_until(t + Duration::from_secs(10), |w| w.outcome(0, id).is_some());
    assert!(matches!(w.outcome(0, id), Some(Ok(_))));
    assert_eq!(w.deliveries(1).count(), 1);
    assert!(w.nodes[1].counters().duplicates >= 1);
}

#[test]
fn receiver_answers_too_large_and_busy() {
    let mut w = World::full_mesh(3, Config::default(), Channel::PERFECT, 13);
    let small = Config {
        max_transfer: 4_096,
        ..Config::default()
    };
    w.reconfigure(2, small, 99);
    let app = w.register_all("bulk");
    w.settle();
    let id = w.nodes[0]
        .send(w.now, app, node_id(2), &blob(10_000, 2))
        .unwrap();
    let deadline = w.now + Duration::from_secs(5);
    w.run_until(deadline, |w| w.outcome(0, id).is_some());
    assert_eq!(w.outcome(0, id), Some(Err(FailReason::TooLarge)));
    assert_eq!(w.deliveries(2).count(), 0);

    // Busy: two 40 KB transfers into one 68 KiB budget at once.
    let mut w = World::full_mesh(3, Config::default(), Channel::PERFECT, 14);
    let app = w.register_all("bulk");
    w.settle();
    let a = w.nodes[0]
        .send(w.now, app, node_id(2), &blob(40_000, 3))
        .unwrap();
    let b = w.nodes[1]
        .send(w.now, app, node_id(2), &blob(40_000, 4))
        .unwrap();
    let deadline = w.now + Duration::from_secs(30);
    w.run_until(deadline, |w| {
        w.outcome(0, a).is_some() && w.outcome(1, b).is_some()
    });
    let outcomes = [w.outcome(0, a).unwrap(), w.outcome(1, b).unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&Err(FailReason::Busy)), "{outcomes:?}");
    assert_eq!(w.deliveries(2).count(), 1);
}

#[test]
fn local_admission_errors() {
    let mut n = SimNode::new(
        Config {
            insecure: true,
            ..Config::default()
        },
        NodeId([1; 8]),
        1,
    );
    n.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)).unwrap();
    let app = n.register_app("x").unwrap();
    assert_eq!(n.register_app("x"), Err(SendError::AppTable));
    let now = Instant::ZERO;
    assert_eq!(
        n.send(now, app, NodeId([1; 8]), b"me"),
        Err(SendError::BadDestination)
    );
    let big = vec![0u8; Config::default().max_transfer + 1];
    assert_eq!(
        n.send(now, app, NodeId([2; 8]), &big),
        Err(SendError::TooLarge)
    );
    // SimNode has 8 KiB of outbound buffer: the second 5 KB send is Busy.
    n.send(now, app, NodeId([2; 8]), &[0; 5_000]).unwrap();
    assert_eq!(
        n.send(now, app, NodeId([2; 8]), &[0; 5_000]),
        Err(SendError::Busy)
    );
    let other = hyphae_core::AppId(0x1234);
    assert_eq!(
        n.send(now, other, NodeId([2; 8]), b"x"),
        Err(SendError::UnknownApp)
    );
}

#[test]
fn app_timers_fire_in_order() {
    let mut n = SimNode::new(
        Config {
            insecure: true,
            ..Config::default()
        },
        NodeId([1; 8]),
        1,
    );
    let app = n.register_app("timer").unwrap();
    n.set_timer(app, Instant::from_millis(30), 2).unwrap();
    n.set_timer(app, Instant::from_millis(10), 1).unwrap();
    let mut fired = Vec::new();
    let mut now = Instant::ZERO;
    while now < Instant::from_millis(100) {
        n.handle_timeout(now);
        while let Some(e) = n.poll_event() {
            if let Event::Timer { token, .. } = e {
                fired.push((token, now));
            }
        }
        now = n
            .poll_timeout()
            .unwrap_or(Instant::MAX)
            .max(now + Duration::from_micros(1));
    }
    assert_eq!(
        fired,
        vec![(1, Instant::from_millis(10)), (2, Instant::from_millis(30))]
    );
}

#[test]
fn full_peer_table_evicts_least_recently_seen_and_reports_it() {
    // SimNode holds 16 peers; beacons from 17 nodes.
    let mut n = SimNode::new(
        Config {
            insecure: true,
            ..Config::default()
        },
        NodeId([0; 8]),
        1,
    );
    let link = n.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)).unwrap();
    let mut buf = [0u8; 250];
    for k in 1..=17u8 {
        let beacon = hyphae_wire::BeaconRepr::new(
            NodeId([k; 8]),
            hyphae_wire::beacon::Capabilities(hyphae_wire::beacon::Capabilities::ROUTER),
            0,
            20,
        );
        let len = hyphae_wire::FrameRepr::new(hyphae_wire::Body::Beacon(beacon))
            .emit(&mut buf)
            .unwrap();
        let meta = RxMeta {
            rssi: Some(-40 - i16::from(k)),
            snr: None,
        };
        n.handle_datagram(
            Instant::from_millis(u64::from(k)),
            link,
            addr(k as usize),
            meta,
            &buf[..len],
        );
    }
    let events: Vec<_> = core::iter::from_fn(|| n.poll_event()).collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::PeerUp(_)))
            .count(),
        17
    );
    assert!(events.contains(&Event::PeerEvicted(NodeId([1; 8]))));
    assert_eq!(n.peers().len(), 16);
    assert_eq!(n.peers().get(&NodeId([17; 8])).unwrap().rssi, Some(-57));
    assert_eq!(n.counters().evictions, 1);
    // Frames from a banned node are dropped and counted.
    assert!(n.ban(NodeId([5; 8])));
    assert!(n.peers().get(&NodeId([5; 8])).is_none());
    let _ = LinkId(0);
}

#[test]
fn garbage_is_counted_never_panics() {
    let mut n = SimNode::new(
        Config {
            insecure: true,
            ..Config::default()
        },
        NodeId([0; 8]),
        1,
    );
    let link = n.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)).unwrap();
    for len in 0..64usize {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
        n.handle_datagram(Instant::ZERO, link, addr(1), RxMeta::default(), &bytes);
    }
    let c = n.counters();
    assert_eq!(c.frames_in, 64);
    assert_eq!(c.total_drops(), 64);
    assert!(c.drop_count(DropReason::Malformed) > 0);
}

#[test]
fn sleepy_peer_is_woken_with_rns_and_the_send_completes() {
    let sleepy = Config {
        sleepy: true,
        ..Config::default()
    };
    let mut w = World::full_mesh(2, Config::default(), Channel::PERFECT, 15);
    w.reconfigure(1, sleepy, 77);
    let app = w.register_all("sensor");
    w.settle();
    // Let node 1 settle into its sleep cycle.
    let t = w.now;
    w.run_until(t + Duration::from_secs(5), |_| false);
    assert!(
        w.log
            .iter()
            .any(|l| l.node == 1 && matches!(l.event, Event::MaySleepUntil(_)))
    );
    assert!(
        w.slept[1] > Duration::from_secs(3),
        "slept {:?}",
        w.slept[1]
    );
    let id = w.nodes[0]
        .send(w.now, app, node_id(1), &blob(1_000, 9))
        .unwrap();
    let t = w.now;
    w.run_until(t + Duration::from_secs(10), |w| w.outcome(0, id).is_some());
    assert!(
        matches!(w.outcome(0, id), Some(Ok(_))),
        "{:?}",
        w.outcome(0, id)
    );
    assert_eq!(w.deliveries(1).count(), 1);
}

#[test]
fn unreachable_sleeper_fails_the_send() {
    let sleepy = Config {
        sleepy: true,
        ..Config::default()
    };
    let fast_fail = Config {
        wake_attempts: 5,
        ..Config::default()
    };
    let mut w = World::full_mesh(2, fast_fail, Channel::PERFECT, 16);
    w.reconfigure(1, sleepy, 78);
    let app = w.register_all("sensor");
    w.settle();
    let t = w.now;
    w.run_until(t + Duration::from_secs(2), |_| false);
    // The sleeper goes out of range: the RNS probes are never answered.
    w.hears[0].clear();
    w.hears[1].clear();
    let id = w.nodes[0].send(w.now, app, node_id(1), b"hello").unwrap();
    let t = w.now;
    w.run_until(t + Duration::from_secs(10), |w| w.outcome(0, id).is_some());
    assert_eq!(w.outcome(0, id), Some(Err(FailReason::Unreachable)));
}

#[test]
fn fair_queueing_interleaves_applications() {
    let mut w = World::full_mesh(2, Config::default(), Channel::PERFECT, 17);
    let bulk = w.register_all("bulk");
    let chat = w.register_all("chat");
    w.settle();
    let big = w.nodes[0]
        .send(w.now, bulk, node_id(1), &blob(30_000, 1))
        .unwrap();
    let small = w.nodes[0].send(w.now, chat, node_id(1), b"hi").unwrap();
    let t = w.now;
    w.run_until(t + Duration::from_secs(10), |w| w.outcome(0, big).is_some());
    let done_small = w.outcome(0, small).unwrap().unwrap();
    let done_big = w.outcome(0, big).unwrap().unwrap();
    // The chat message is not stuck behind 124 bulk fragments.
    assert!(
        done_small.saturating_since(t) < Duration::from_millis(50),
        "{done_small} {t}"
    );
    assert!(done_big > done_small);
}

#[test]
fn duty_cycle_budget_spaces_lora_frames() {
    let mut n = SimNode::new(
        Config {
            insecure: true,
            ..Config::default()
        },
        NodeId([1; 8]),
        1,
    );
    let mut info = LinkInfo::for_kind(LinkKind::LoraRylr998);
    info.duty_cycle_window = Duration::from_secs(100);
    let link = n.add_link(info).unwrap();
    let app = n.register_app("lora").unwrap();
    let id = n.broadcast(Instant::ZERO, app, &[7u8; 600]).unwrap();
    let mut buf = [0u8; 250];
    let mut sent = Vec::new();
    let mut now = Instant::ZERO;
    while sent.len() < 8 && now < Instant::from_secs(3600) {
        while let Some(t) = n.poll_transmit(now, &mut buf) {
            sent.push((now, t.len));
        }
        now = n
            .poll_timeout()
            .unwrap_or(Instant::MAX)
            .max(now + Duration::from_micros(1));
    }
    // 1 % of 100 s = 1 s of airtime credit; a 240-byte LoRa frame takes about 1.4 s. Over the
    // run the airtime used stays within 1 % of the elapsed time plus the bucket and one frame.
    assert_eq!(sent.len(), 8);
    let elapsed = sent[7].0.saturating_since(Instant::ZERO);
    let (used, _) = n.airtime(link).unwrap();
    assert!(
        used <= elapsed / 100 + Duration::from_millis(2_500),
        "{used:?} in {elapsed:?}"
    );
    assert!(elapsed > Duration::from_secs(100), "{elapsed:?}");
    // The slow broadcast is not timed out while it waits for airtime: it completes.
    let mut done = false;
    while !done && now < Instant::from_secs(7200) {
        while n.poll_transmit(now, &mut buf).is_some() {}
        while let Some(e) = n.poll_event() {
            assert!(!matches!(e, Event::SendFailed { .. }), "{e:?}");
            done |= e == (Event::SendDone { id, app });
        }
        now = n
            .poll_timeout()
            .unwrap_or(Instant::MAX)
            .max(now + Duration::from_micros(1));
    }
    assert!(done);
}

#[test]
fn per_peer_pacing_spaces_frames() {
    let cfg = Config {
        pacing: Duration::from_millis(10),
        ..Config::default()
    };
    let mut w = World::full_mesh(2, cfg, Channel::PERFECT, 18);
    let app = w.register_all("paced");
    w.settle();
    w.trace = false;
    let id = w.nodes[0]
        .send(w.now, app, node_id(1), &blob(5_000, 1))
        .unwrap();
    let t = w.now;
    w.run_until(t + Duration::from_secs(5), |w| w.outcome(0, id).is_some());
    let done = w.outcome(0, id).unwrap().unwrap();
    // 21 fragments at least 10 ms apart.
    assert!(
        done.saturating_since(t) >= Duration::from_millis(200),
        "{:?}",
        done.saturating_since(t)
    );
}

#[test]
fn congested_forwarder_throttles_the_source() {
    let mut w = World::chain(4, Config::default(), Channel::PERFECT, 19);
    let app = w.register_all("bulk");
    w.settle();
    let id = w.nodes[0]
        .send(w.now, app, node_id(3), &blob(60_000, 2))
        .unwrap();
    let t = w.now;
    let mut smallest = u16::MAX;
    while w.outcome(0, id).is_none() && w.now < t + Duration::from_secs(30) {
        w.step();
        if let Some(p) = w.nodes[0].send_progress(id) {
            smallest = smallest.min(p.cwnd);
        }
    }
    assert!(matches!(w.outcome(0, id), Some(Ok(_))));
    assert!(
        smallest < Config::default().window,
        "window never reduced: {smallest}"
    );
    let dropped: u64 = (1..3)
        .map(|k| w.nodes[k].counters().drop_count(DropReason::QueueFull))
        .sum();
    assert!(dropped < 20, "forwarders dropped {dropped} frames");
}

#[test]
fn lora_peers_stay_up_between_sparse_beacons() {
    // Beacon spacing alone: tree routing's own frames (tree messages, position gossip) would
    // add to the airtime measured below.
    let config = Config {
        routing: hyphae_core::Routing::Static,
        insecure: true,
        ..Config::default()
    };
    let mut a = SimNode::new(config, NodeId([1; 8]), 1);
    let mut b = SimNode::new(config, NodeId([2; 8]), 2);
    let la = a
        .add_link(LinkInfo::for_kind(LinkKind::LoraRylr998))
        .unwrap();
    let lb = b
        .add_link(LinkInfo::for_kind(LinkKind::LoraRylr998))
        .unwrap();
    let (aa, ab) = (addr(0), addr(1));
    let mut buf = [0u8; 250];
    let mut now = Instant::ZERO;
    let mut events = Vec::new();
    let mut beacons = 0;
    while now < Instant::from_secs(3 * 3600) {
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            b.handle_datagram(now, lb, aa, RxMeta::default(), &buf[..t.len]);
            beacons += 1;
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle_datagram(now, la, ab, RxMeta::default(), &buf[..t.len]);
        }
        events.extend(core::iter::from_fn(|| a.poll_event()));
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        now = next
            .unwrap_or(Instant::MAX)
            .max(now + Duration::from_micros(1));
    }
    assert_eq!(
        events,
        vec![Event::PeerUp(NodeId([2; 8]))],
        "the LoRa peer never went down"
    );
    // Beacons respect the 1 % budget: a few per hour, not one every 2 s.
    assert!((10..=60).contains(&beacons), "{beacons} beacons in 3 h");
    let (used, _) = a.airtime(la).unwrap();
    assert!(used < Duration::from_secs(3 * 36 / 10 + 2), "{used:?}");
}

#[test]
fn a_node_can_live_in_a_static() {
    use std::sync::Mutex;
    static NODE: Mutex<SimNode> = Mutex::new(SimNode::new(
        Config {
            insecure: true,
            ..Config::DEFAULT
        },
        NodeId([7; 8]),
        1,
    ));
    let mut n = NODE.lock().unwrap();
    assert_eq!(n.id(), NodeId([7; 8]));
    assert!(n.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)).is_some());
}
