//! End-to-end transfers through the harness: one hop, lossy, chains.

mod common;

use core::time::Duration;

use common::harness::{Channel, World, node_id};
use hyphae_core::{Config, Event, Instant};

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn one_hop_blob_arrives_once() {
    let mut w = World::full_mesh(2, Config::default(), Channel::PERFECT, 1);
    let app = w.register_all("test");
    w.settle();
    let data = blob(10_000, 1);
    let id = w.nodes[0].send(w.now, app, node_id(1), &data).unwrap();
    let deadline = w.now + Duration::from_secs(20);
    w.run_until(deadline, |w| w.outcome(0, id).is_some());
    assert!(
        matches!(w.outcome(0, id), Some(Ok(_))),
        "{:?}",
        w.outcome(0, id)
    );
    let got: Vec<_> = w.deliveries(1).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.as_deref(), Some(&data[..]));
}

#[test]
fn lossy_duplicating_reordering_one_hop() {
    let ch = Channel {
        loss: 0.2,
        dup: 0.1,
        reorder: 0.2,
        reorder_delay: Duration::from_millis(8),
    };
    let mut w = World::full_mesh(3, Config::default(), ch, 7);
    let app = w.register_all("test");
    w.settle();
    let a = blob(20_000, 2);
    let b = blob(300, 3);
    let id1 = w.nodes[0].send(w.now, app, node_id(2), &a).unwrap();
    let id2 = w.nodes[1].send(w.now, app, node_id(2), &b).unwrap();
    let deadline = w.now + Duration::from_secs(60);
    w.run_until(deadline, |w| {
        w.outcome(0, id1).is_some() && w.outcome(1, id2).is_some()
    });
    assert!(matches!(w.outcome(0, id1), Some(Ok(_))));
    assert!(matches!(w.outcome(1, id2), Some(Ok(_))));
    let got: Vec<_> = w
        .deliveries(2)
        .map(|l| l.payload.clone().unwrap())
        .collect();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&a) && got.contains(&b));
}

#[test]
fn five_hop_chain() {
    let mut w = World::chain(6, Config::default(), Channel::lossy(0.1), 3);
    let app = w.register_all("test");
    w.settle();
    let data = blob(8_000, 4);
    let id = w.nodes[0].send(w.now, app, node_id(5), &data).unwrap();
    let deadline = w.now + Duration::from_secs(60);
    w.run_until(deadline, |w| w.outcome(0, id).is_some());
    assert!(
        matches!(w.outcome(0, id), Some(Ok(_))),
        "{:?}",
        w.outcome(0, id)
    );
    let got: Vec<_> = w.deliveries(5).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.as_deref(), Some(&data[..]));
    assert!(w.nodes[2].counters().forwarded > 0);
}

#[test]
fn unknown_destination_fails_unreachable() {
    let mut w = World::full_mesh(2, Config::default(), Channel::PERFECT, 1);
    let app = w.register_all("test");
    w.settle();
    let id = w.nodes[0].send(w.now, app, node_id(9), b"hello").unwrap();
    let deadline = w.now + Duration::from_secs(20);
    w.run_until(deadline, |w| w.outcome(0, id).is_some());
    assert_eq!(
        w.outcome(0, id),
        Some(Err(hyphae_core::FailReason::Unreachable))
    );
}

#[test]
fn partition_times_out_and_resume_within_window() {
    let cfg = Config {
        transfer_timeout: Duration::from_secs(20),
        ..Config::default()
    };
    let mut w = World::full_mesh(2, cfg, Channel::PERFECT, 5);
    let app = w.register_all("test");
    w.settle();
    let data = blob(30_000, 5);
    let id = w.nodes[0].send(w.now, app, node_id(1), &data).unwrap();
    // Cut the link half-way through, for 5 s: the transfer resumes where it stopped.
    let t0 = w.now;
    w.run_until(t0 + Duration::from_millis(250), |_| false);
    w.links_up = false;
    let sent_before = w.frames_sent[0];
    w.run_until(t0 + Duration::from_secs(5), |_| false);
    w.links_up = true;
    w.run_until(t0 + Duration::from_secs(40), |w| w.outcome(0, id).is_some());
    assert!(
        matches!(w.outcome(0, id), Some(Ok(_))),
        "{:?}",
        w.outcome(0, id)
    );
    // Only the window lost in the cut and the back-off probes are resent, not the transfer.
    let rtx = w.nodes[0].counters().retransmissions;
    assert!(rtx < 70, "resent {rtx} fragments");
    let _ = sent_before;
    assert_eq!(w.deliveries(1).count(), 1);
    let _ = Instant::ZERO;
    let _ = matches!(w.log[0].event, Event::PeerUp(_));
}

#[test]
fn host_nodes_carry_a_large_blob_over_udp() {
    use hyphae_core::{HostNode, LinkAddr, LinkInfo, LinkKind, NodeId, RxMeta};
    // HostNode is about 1.1 MB: build it on a thread with room for it.
    let run = || {
        let cfg = Config {
            max_transfer: 400_000,
            insecure: true,
            ..Config::default()
        };
        let mut a = Box::new(HostNode::new(cfg, NodeId([1; 8]), 1));
        let mut b = Box::new(HostNode::new(cfg, NodeId([2; 8]), 2));
        let la = a.add_link(LinkInfo::for_kind(LinkKind::Udp)).unwrap();
        let lb = b.add_link(LinkInfo::for_kind(LinkKind::Udp)).unwrap();
        let app = a.register_app("files").unwrap();
        b.register_app("files").unwrap();
        let (aa, ab) = (
            LinkAddr::new(&[1; 6]).unwrap(),
            LinkAddr::new(&[2; 6]).unwrap(),
        );
        let data = blob(300_000, 9);
        let mut buf = [0u8; 1470];
        let mut now = Instant::ZERO;
        let mut sent = None;
        let mut got = None;
        for _ in 0..20_000 {
            now = now + Duration::from_millis(1);
            if sent.is_none() && a.peers().get(&NodeId([2; 8])).is_some() {
                sent = Some(a.send(now, app, NodeId([2; 8]), &data).unwrap());
            }
            while let Some(t) = a.poll_transmit(now, &mut buf) {
                b.handle_datagram(now, lb, aa, RxMeta::default(), &buf[..t.len]);
            }
            while let Some(t) = b.poll_transmit(now, &mut buf) {
                a.handle_datagram(now, la, ab, RxMeta::default(), &buf[..t.len]);
            }
            while let Some(e) = b.poll_event() {
                if let Event::Delivered(d) = e {
                    let mut out = vec![0u8; d.len];
                    b.take_delivery(d.id, &mut out).unwrap();
                    got = Some(out);
                }
            }
            while a.poll_event().is_some() {}
            if got.is_some() {
                break;
            }
        }
        assert_eq!(got.as_deref(), Some(&data[..]));
    };
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn boundary_lengths_arrive_intact() {
    // Single capacity (244), fragment multiples (content = payload + 10 = k × 244 or k × 242),
    // empty, and the compact/large boundary (256 fragments).
    let lens = [
        0,
        1,
        243,
        244,
        245,
        478,
        1210,
        244 * 256 - 10,
        244 * 256 - 9,
        242 * 270 - 10,
    ];
    for (k, len) in lens.into_iter().enumerate() {
        let mut w = World::full_mesh(2, Config::default(), Channel::lossy(0.05), 40 + k as u64);
        let app = w.register_all("edge");
        w.settle();
        let data = blob(len, k as u8);
        let id = w.nodes[0].send(w.now, app, node_id(1), &data).unwrap();
        let deadline = w.now + Duration::from_secs(30);
        w.run_until(deadline, |w| w.outcome(0, id).is_some());
        assert!(
            matches!(w.outcome(0, id), Some(Ok(_))),
            "len {len}: {:?}",
            w.outcome(0, id)
        );
        let got: Vec<_> = w.deliveries(1).collect();
        assert_eq!(got.len(), 1, "len {len}");
        assert_eq!(got[0].payload.as_deref(), Some(&data[..]), "len {len}");
    }
}
