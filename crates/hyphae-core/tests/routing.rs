//! Tree routing and managed flooding between real nodes on the virtual-clock harness: trees
//! form, non-neighbours are reached over greedy tree routes, repair after a crash, flooding
//! delivers once, unreachable destinations fail at the sender.

#![allow(clippy::unwrap_used)]

mod common;

use core::time::Duration;
use std::collections::VecDeque;

use common::harness::{Channel, World, node_id};
use hyphae_core::{Config, Event, FailReason, Metric, Routing, SendId};
use proptest::prelude::*;

fn tree_config(announce_hops: u8) -> Config {
    Config {
        routing: Routing::Tree {
            trees: 3,
            metric: Metric::TreeDistance,
            announce_hops,
        },
        beacon_interval: Duration::from_secs(1),
        ..Config::default()
    }
}

fn flood_config() -> Config {
    Config {
        routing: Routing::FLOOD,
        ..Config::default()
    }
}

/// A `w` × `h` grid, 4-neighbourhood.
fn grid(w: usize, h: usize, config: Config, seed: u64) -> World {
    let n = w * h;
    let mut world = World::new(n, config, Channel::PERFECT, seed);
    for i in 0..n {
        let (x, y) = (i % w, i / w);
        if x > 0 {
            world.hears[i].push(i - 1);
        }
        if x + 1 < w {
            world.hears[i].push(i + 1);
        }
        if y > 0 {
            world.hears[i].push(i - w);
        }
        if y + 1 < h {
            world.hears[i].push(i + w);
        }
    }
    world
}

fn bfs(hears: &[Vec<usize>], s: usize) -> Vec<u32> {
    let mut d = vec![u32::MAX; hears.len()];
    d[s] = 0;
    let mut q = VecDeque::from([s]);
    while let Some(u) = q.pop_front() {
        for &v in &hears[u] {
            if d[v] == u32::MAX {
                d[v] = d[u] + 1;
                q.push_back(v);
            }
        }
    }
    d
}

/// Every alive node is attached in every tree, under one root per tree, and knows the
/// positions of all other alive nodes (as many as its name cache holds).
fn converged(w: &World, alive: &[bool]) -> bool {
    let ids: Vec<usize> = (0..w.nodes.len()).filter(|&i| alive[i]).collect();
    let Some(&first) = ids.first() else {
        return true;
    };
    ids.iter().all(|&i| {
        let n = &w.nodes[i];
        n.tree_attached()
            && (0..3)
                .all(|t| n.tree_root(t).map(|r| r.0) == w.nodes[first].tree_root(t).map(|r| r.0))
            && ids
                .iter()
                .filter(|&&j| j != i && n.resolve(&node_id(j)) == Some(w.nodes[j].position()))
                .count()
                >= (ids.len() - 1).min(hyphae_core::node::NAME_CACHE)
    })
}

fn run_converge(w: &mut World, alive: &[bool], limit: Duration) {
    let deadline = w.now + limit;
    let a = alive.to_vec();
    w.run_until(deadline, |w| converged(w, &a));
    if !converged(w, alive) {
        for (i, n) in w.nodes.iter().enumerate() {
            let known = (0..w.nodes.len())
                .filter(|&j| n.resolve(&node_id(j)) == Some(w.nodes[j].position()))
                .count();
            eprintln!(
                "{i}: attached {} roots {:?} known {known} stats {:?}",
                n.tree_attached(),
                (0..3).map(|t| n.tree_root(t)).collect::<Vec<_>>(),
                n.routing_stats()
            );
        }
    }
    assert!(converged(w, alive), "trees did not converge by {}", w.now);
}

fn send(w: &mut World, from: usize, to: usize, app: hyphae_core::AppId, len: usize) -> SendId {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + from) as u8).collect();
    let now = w.now;
    w.nodes[from].send(now, app, node_id(to), &data).unwrap()
}

fn wait_outcome(w: &mut World, from: usize, id: SendId, limit: Duration) {
    let deadline = w.now + limit;
    w.run_until(deadline, |w| w.outcome(from, id).is_some());
}

/// Path length of the delivery at `node` from `from`, from its remaining hop limit.
fn hops_of(w: &World, node: usize, from: usize, origin_limit: u8) -> Vec<u32> {
    w.deliveries(node)
        .filter_map(|l| match l.event {
            Event::Delivered(d) if d.from == node_id(from) => Some(
                d.hop_limit_left
                    .map_or(1, |h| u32::from(origin_limit - h) + 1),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn trees_form_on_a_grid_and_route_between_corners() {
    let mut w = grid(5, 5, tree_config(12), 1);
    let app = w.register_all("route");
    let alive = vec![true; 25];
    w.settle();
    run_converge(&mut w, &alive, Duration::from_secs(90));
    let stretch_pairs = [(0, 24), (4, 20), (2, 22), (10, 14), (24, 0)];
    let mut total = (0u32, 0u32);
    w.recorded = Some(Vec::new());
    for &(a, b) in &stretch_pairs {
        // 24 other nodes, 16 name-cache entries: wait until a's cache holds b (announcements
        // are refreshed every two minutes).
        let deadline = w.now + Duration::from_secs(150);
        w.run_until(deadline, |w| w.nodes[a].resolve(&node_id(b)).is_some());
        let id = send(&mut w, a, b, app, 600);
        wait_outcome(&mut w, a, id, Duration::from_secs(30));
        assert_eq!(
            w.outcome(a, id).map(|o| o.is_ok()),
            Some(true),
            "{a} -> {b}"
        );
        let hops = hops_of(&w, b, a, Config::default().hop_limit);
        assert_eq!(hops.len(), 1, "{a} -> {b} delivered {hops:?}");
        let shortest = bfs(&w.hears, a)[b];
        assert!(hops[0] >= shortest);
        total.0 += hops[0];
        total.1 += shortest;
    }
    // Routed data frames name the destination in all three trees (one tree in the header's
    // tree field, the other two as alternates), at the origin and at every forwarder.
    let mut with_alternates = [0usize; 2];
    for (sender, bytes) in w.recorded.take().unwrap() {
        let Ok(f) = hyphae_wire::FrameRepr::parse(&bytes) else {
            continue;
        };
        let Some(r) = f.routing else { continue };
        if matches!(r.dst, hyphae_wire::Address::Coords(_))
            && matches!(f.body, hyphae_wire::frame::Body::Fragment(_))
        {
            let all = r.alt.iter().all(Option::is_some);
            let origin = r.src == hyphae_wire::Address::Node(node_id(sender));
            if all {
                with_alternates[usize::from(!origin)] += 1;
            }
        }
    }
    assert!(
        with_alternates[0] > 0 && with_alternates[1] > 0,
        "origin / forwarded frames with both alternates: {with_alternates:?}"
    );
    let stretch = f64::from(total.0) / f64::from(total.1);
    eprintln!(
        "grid 5x5: stretch {stretch:.2} over {stretch_pairs:?}, frames with alternates {with_alternates:?}"
    );
    assert!(stretch <= 1.5, "stretch {stretch}");
    // Control traffic is counted, routing state is small.
    for n in &w.nodes {
        assert!(n.counters().control_bytes_out > 0);
        let s = n.routing_state_bytes();
        assert!(s > 0 && s < 4096, "{s}");
    }
    let fwd: u64 = w
        .nodes
        .iter()
        .map(|n| n.routing_stats().greedy_forwards)
        .sum();
    assert!(fwd > 0);
    // Trace route from corner to corner: one record per hop (forwarders and destination).
    let deadline = w.now + Duration::from_secs(150);
    w.run_until(deadline, |w| w.nodes[0].resolve(&node_id(24)).is_some());
    let now = w.now;
    let probe = w.nodes[0].trace(now, node_id(24)).unwrap();
    let deadline = w.now + Duration::from_secs(5);
    w.run_until(deadline, |w| {
        w.log
            .iter()
            .any(|l| matches!(l.event, Event::TraceDone { probe: p, .. } if p == probe))
    });
    let hops = w.nodes[0].trace_hops(probe).expect("trace done");
    assert_eq!(hops.len(), 8, "{hops:?}");
    assert_eq!(hops[7].node, node_id(24).short());
}

#[test]
fn delivery_recovers_after_a_node_crash() {
    let mut w = grid(4, 4, tree_config(8), 2);
    let app = w.register_all("route");
    let mut alive = vec![true; 16];
    w.settle();
    run_converge(&mut w, &alive, Duration::from_secs(90));
    // Crash the nodes that are roots of tree 0 and an inner node.
    let root0 = (0..16).find(|&i| w.nodes[i].position()[0].is_some_and(|c| c.depth() == 0));
    let mut victims = vec![5usize];
    if let Some(r) = root0
        && r != 0
        && r != 15
        && !victims.contains(&r)
    {
        victims.push(r);
    }
    for &v in &victims {
        alive[v] = false;
        w.hears[v].clear();
        for h in w.hears.iter_mut() {
            h.retain(|&x| x != v);
        }
    }
    // Right after the crash, sends still complete (retransmissions find a way).
    let id = send(&mut w, 0, 15, app, 400);
    wait_outcome(&mut w, 0, id, Duration::from_secs(40));
    assert!(w.outcome(0, id).is_some());
    run_converge(&mut w, &alive, Duration::from_secs(120));
    for (a, b) in [(0, 15), (15, 0), (3, 12)] {
        if !alive[a] || !alive[b] {
            continue;
        }
        let id = send(&mut w, a, b, app, 400);
        wait_outcome(&mut w, a, id, Duration::from_secs(30));
        assert_eq!(
            w.outcome(a, id).map(|o| o.is_ok()),
            Some(true),
            "{a} -> {b}"
        );
    }
}

#[test]
fn flooding_delivers_once_and_suppresses_duplicates() {
    let mut w = grid(4, 4, flood_config(), 3);
    let app = w.register_all("flood");
    w.settle();
    let id = send(&mut w, 0, 15, app, 700);
    wait_outcome(&mut w, 0, id, Duration::from_secs(30));
    assert_eq!(w.outcome(0, id).map(|o| o.is_ok()), Some(true));
    let hops = hops_of(&w, 15, 0, 7);
    assert_eq!(hops.len(), 1, "{hops:?}");
    assert!(hops[0] >= 6, "{hops:?}");
    let stats: Vec<_> = w.nodes.iter().map(|n| n.routing_stats()).collect();
    let dups: u64 = stats.iter().map(|s| s.flood_duplicates).sum();
    let rebroadcasts: u64 = stats.iter().map(|s| s.flood_rebroadcasts).sum();
    let cancelled: u64 = stats.iter().map(|s| s.flood_cancelled).sum();
    eprintln!("flood 4x4: rebroadcasts {rebroadcasts} cancelled {cancelled} duplicates {dups}");
    assert!(dups > 0);
    // Each of 16 nodes rebroadcasts a frame at most once: 4 data frames + acks, far below
    // 16 × frames × repeats.
    let frames = u64::from(w.nodes[0].counters().frames_out as u32);
    assert!(rebroadcasts <= 16 * (frames + 8), "{rebroadcasts}");
    // A late flooded copy of a completed transfer is re-acknowledged, never delivered again
    // (the single delivery is checked above).
    assert!(w.nodes[15].counters().duplicates <= 2);
}

#[test]
fn unknown_destination_fails_unreachable_at_the_sender() {
    let mut w = grid(3, 3, tree_config(8), 4);
    let app = w.register_all("route");
    w.settle();
    run_converge(&mut w, &[true; 9], Duration::from_secs(60));
    // Nobody knows this node: no coordinates, no reverse path.
    let now = w.now;
    let id = w.nodes[0]
        .send(now, app, hyphae_core::NodeId([0xee; 8]), b"hello")
        .unwrap();
    wait_outcome(&mut w, 0, id, Duration::from_secs(10));
    assert_eq!(w.outcome(0, id), Some(Err(FailReason::Unreachable)));
    // A node whose cached coordinates lead nowhere: a free child position of the corner
    // farthest from node 0. Greedy forwarding reaches the dead end, the frame backtracks, and
    // the origin learns it is unreachable from the node that returned it.
    let far = w.nodes[8].position();
    let mut ghost = [None; hyphae_core::MAX_TREES];
    for (g, c) in ghost.iter_mut().zip(far) {
        *g = c.and_then(|c| c.child(200).ok());
    }
    let ghost_id = hyphae_core::NodeId([0xdd; 8]);
    let now = w.now;
    assert!(w.nodes[0].learn_position(now, ghost_id, &ghost));
    let id = w.nodes[0].send(now, app, ghost_id, b"hello").unwrap();
    wait_outcome(&mut w, 0, id, Duration::from_secs(30));
    let failed = w.log.iter().find_map(|l| match l.event {
        Event::SendFailed {
            id: s, reason, at, ..
        } if l.node == 0 && s == id => Some((reason, at)),
        _ => None,
    });
    let (reason, at) = failed.expect("the send failed");
    assert!(
        matches!(
            reason,
            FailReason::Unreachable | FailReason::HopLimitExceeded
        ),
        "{reason:?}"
    );
    assert!(at.is_some());
    let unreachable: u64 = w
        .nodes
        .iter()
        .map(|n| n.routing_stats().unreachable + n.routing_stats().backtracks)
        .sum();
    assert!(unreachable > 0);
    // Stale coordinates that another node holds now: node 0 believes node 7 sits where node 8
    // is. The frame reaches node 8, whose id differs from the destination id in the header:
    // it is not delivered there (counted), and node 0 is told the destination is unreachable.
    let now = w.now;
    let eight = w.nodes[8].position();
    assert!(w.nodes[0].learn_position(now, node_id(7), &eight));
    let before = w.nodes[8].counters().delivered;
    let id = w.nodes[0].send(now, app, node_id(7), b"for seven").unwrap();
    wait_outcome(&mut w, 0, id, Duration::from_secs(30));
    assert_eq!(w.outcome(0, id), Some(Err(FailReason::Unreachable)));
    assert_eq!(w.nodes[8].counters().delivered, before);
    assert!(
        w.nodes[8]
            .counters()
            .drop_count(hyphae_core::DropReason::WrongDestination)
            >= 1
    );
    assert!(
        !w.deliveries(7)
            .chain(w.deliveries(8))
            .any(|d| d.payload.as_deref() == Some(&b"for seven"[..]))
    );
}

#[test]
fn a_leaf_takes_a_leased_address_and_is_reached_through_its_proxy() {
    // A 3 × 3 grid, plus node 9: a leaf that hears node 8 only and never joins the trees.
    let w = grid(3, 3, tree_config(8), 6);
    let mut big = World::new(10, tree_config(8), Channel::PERFECT, 6);
    for i in 0..9 {
        big.hears[i].clone_from(&w.hears[i]);
    }
    big.hears[8].push(9);
    big.hears[9].push(8);
    let leaf = Config {
        capabilities: hyphae_wire::beacon::Capabilities::LEAF,
        ..tree_config(8)
    };
    big.reconfigure(9, leaf, 99);
    let mut w = big;
    let app = w.register_all("lease");
    w.settle();
    let alive: Vec<bool> = (0..10).map(|i| i < 9).collect();
    run_converge(&mut w, &alive, Duration::from_secs(90));
    let deadline = w.now + Duration::from_secs(30);
    w.run_until(deadline, |w| {
        w.nodes[9].position().iter().all(Option::is_some)
    });
    // The leased coordinates sit right below the proxy's in every tree; the leaf holds no
    // tree position of its own and nobody is its child.
    let (leased, proxy) = (w.nodes[9].position(), w.nodes[8].position());
    for (l, p) in leased.iter().zip(proxy) {
        let (l, p) = (l.unwrap(), p.unwrap());
        assert_eq!(l.parent(), Some(p), "leased {l} under {p}");
    }
    assert!(!w.nodes[9].tree_attached());
    // Node 0 reaches the leaf by its leased coordinates, through node 8's proxying.
    let now = w.now;
    assert!(w.nodes[0].learn_position(now, node_id(9), &leased));
    let id = send(&mut w, 0, 9, app, 600);
    wait_outcome(&mut w, 0, id, Duration::from_secs(30));
    assert_eq!(w.outcome(0, id).map(|o| o.is_ok()), Some(true));
    assert_eq!(hops_of(&w, 9, 0, Config::default().hop_limit).len(), 1);
    // And the leaf answers through its proxy.
    let now = w.now;
    let zero = w.nodes[0].position();
    assert!(w.nodes[9].learn_position(now, node_id(0), &zero));
    let id = send(&mut w, 9, 0, app, 300);
    wait_outcome(&mut w, 9, id, Duration::from_secs(30));
    assert_eq!(w.outcome(9, id).map(|o| o.is_ok()), Some(true));
    assert_eq!(hops_of(&w, 0, 9, Config::default().hop_limit).len(), 1);
}

/// A connected random graph on `n` nodes: a random tree plus `extra` random edges.
fn random_graph(n: usize, extra: &[(usize, usize)], parents: &[usize]) -> Vec<Vec<usize>> {
    let mut hears = vec![Vec::new(); n];
    let mut add = |a: usize, b: usize| {
        if a != b && !hears[a].contains(&b) {
            hears[a].push(b);
            hears[b].push(a);
        }
    };
    for i in 1..n {
        add(i, parents[i - 1] % i);
    }
    for &(a, b) in extra {
        add(a % n, b % n);
    }
    hears
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// On random small graphs, every message is delivered exactly once or its sender is told.
    #[test]
    fn every_message_delivered_once_or_sender_told(
        n in 5usize..9,
        parents in proptest::collection::vec(0usize..100, 8),
        extra in proptest::collection::vec((0usize..100, 0usize..100), 0..6),
        pairs in proptest::collection::vec((0usize..100, 0usize..100), 1..5),
        seed in 0u64..1000,
    ) {
        let mut w = World::new(n, tree_config(8), Channel::lossy(0.05), seed);
        w.hears = random_graph(n, &extra, &parents);
        let app = w.register_all("prop");
        w.settle();
        let deadline = w.now + Duration::from_secs(60);
        let alive = vec![true; n];
        w.run_until(deadline, |w| converged(w, &alive));
        let mut sends = Vec::new();
        for &(a, b) in &pairs {
            let (a, b) = (a % n, b % n);
            if a == b {
                continue;
            }
            sends.push((a, b, send(&mut w, a, b, app, 300)));
        }
        let deadline = w.now + Duration::from_secs(60);
        w.run_until(deadline, |w| sends.iter().all(|&(a, _, id)| w.outcome(a, id).is_some()));
        for &(a, b, id) in &sends {
            let outcome = w.outcome(a, id);
            prop_assert!(outcome.is_some(), "{a} -> {b}: no outcome");
            let got = w
                .deliveries(b)
                .filter(|l| matches!(l.event, Event::Delivered(d) if d.from == node_id(a)))
                .count();
            let same_pair = sends.iter().filter(|s| s.0 == a && s.1 == b).count();
            prop_assert!(got <= same_pair, "{a} -> {b}: delivered {got} times");
            if matches!(outcome, Some(Ok(_))) {
                prop_assert!(got >= 1, "{a} -> {b}: done but not delivered");
            }
        }
    }
}

#[test]
fn services_are_found_and_gossip_topics_delivered() {
    let mut w = grid(3, 3, tree_config(8), 5);
    let app = w.register_all("svc");
    w.settle();
    run_converge(&mut w, &[true; 9], Duration::from_secs(60));
    let now = w.now;
    w.nodes[8]
        .announce_service(now, "mqtt-gateway", app)
        .unwrap();
    let deadline = w.now + Duration::from_secs(3);
    w.run_until(deadline, |w| {
        w.nodes[0].find_service("mqtt-gateway").is_some()
    });
    let found = w.nodes[0]
        .find_service("mqtt-gateway")
        .expect("found within 3 s");
    assert_eq!(found.node, node_id(8));
    assert_eq!(found.app, app);
    // A nearer provider appears: it wins.
    let now = w.now;
    w.nodes[1]
        .announce_service(now, "mqtt-gateway", app)
        .unwrap();
    let deadline = w.now + Duration::from_secs(3);
    w.run_until(deadline, |w| {
        w.nodes[0]
            .find_service("mqtt-gateway")
            .is_some_and(|p| p.node == node_id(1))
    });
    let p = w.nodes[0].find_service("mqtt-gateway").unwrap();
    assert_eq!((p.node, p.distance), (node_id(1), Some(1)));
    assert!(w.nodes[0].find_service("ota").is_none());
    // Application gossip topics.
    for n in &mut w.nodes {
        assert!(n.gossip_subscribe(0x42));
    }
    let now = w.now;
    w.nodes[4].gossip_publish(now, 0x42, b"news").unwrap();
    let deadline = w.now + Duration::from_secs(2);
    w.run_until(deadline, |_| false);
    let got = w
        .log
        .iter()
        .filter(|l| {
            matches!(
                l.event,
                Event::Gossip {
                    topic: 0x42,
                    len: 4,
                    ..
                }
            )
        })
        .count();
    assert_eq!(got, 8, "every other node once");
    // A payload larger than a frame: announced, fetched from the announcing neighbour by every
    // subscriber, checked against the digest, delivered intact once per node.
    let big: Vec<u8> = (0..700u32).map(|i| (i * 13 + 5) as u8).collect();
    let now = w.now;
    w.nodes[4].gossip_publish(now, 0x42, &big).unwrap();
    let deadline = w.now + Duration::from_secs(10);
    w.run_until(deadline, |_| false);
    let fetched: Vec<usize> = w
        .log
        .iter()
        .filter(|l| {
            matches!(
                l.event,
                Event::Gossip {
                    topic: 0x42,
                    len: 700,
                    ..
                }
            ) && l.payload.as_deref() == Some(&big[..])
        })
        .map(|l| l.node)
        .collect();
    let mut nodes = fetched.clone();
    nodes.sort_unstable();
    nodes.dedup();
    assert_eq!((fetched.len(), nodes.len()), (8, 8), "{fetched:?}");
    assert!(!nodes.contains(&4));
    assert!(w.nodes[4].gossip_publish(now, 0x42, &[0u8; 1025]).is_err());
}
