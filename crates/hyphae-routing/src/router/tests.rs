use super::*;

type R = Router<OpenPolicy, 2, 4, 2>;
const S: Duration = Duration::from_secs(1);

fn id(i: u8) -> NodeId {
    NodeId([i; 8])
}

fn router(i: u8) -> R {
    let mut c = Config::new(id(i), S);
    c.trees = 2;
    Router::new(c, OpenPolicy::default(), Instant(0))
}

/// Beacon from `a` (handle = index) to `b`, then deliver tree messages both ways.
fn beacon(rs: &mut [R], now: Instant, a: usize, b: usize) {
    let e: [TreeEntry; 2] = {
        let mut it = rs[a].beacon_entries();
        [it.next().unwrap(), it.next().unwrap()]
    };
    rs[b].on_beacon(now, NeighbourId(a as u16), id(a as u8), 200, &e);
    for _ in 0..4 {
        for x in 0..rs.len() {
            while let Some((d, m)) = rs[x].poll_message() {
                match d {
                    Dest::Neighbour(y) => {
                        rs[usize::from(y.0)].on_tree_message(now, NeighbourId(x as u16), &m)
                    }
                    Dest::Broadcast => {}
                }
            }
        }
    }
}

fn line(rs: &mut [R], rounds: u64) -> Instant {
    let mut now = Instant(0);
    for _ in 0..rounds {
        now = now.add(S);
        for r in rs.iter_mut() {
            r.handle_timeout(now);
        }
        for a in 0..rs.len() {
            if a > 0 {
                beacon(rs, now, a, a - 1);
            }
            if a + 1 < rs.len() {
                beacon(rs, now, a, a + 1);
            }
        }
    }
    now
}

#[test]
fn a_line_elects_one_root_per_tree_and_numbers_children() {
    let mut rs = [router(0), router(1), router(2)];
    line(&mut rs, 15);
    for t in 0..2 {
        let roots: usize = rs.iter().filter(|r| r.is_root(t)).count();
        assert_eq!(roots, 1, "tree {t}");
        let root = rs
            .iter()
            .find(|r| r.is_root(t))
            .unwrap()
            .tree_state(t)
            .unwrap()
            .0;
        for r in &rs {
            assert!(r.is_attached(t));
            assert_eq!(r.tree_state(t).unwrap().0, root);
            if let Some(p) = r.parent(t) {
                let pc = rs[usize::from(p.0)].coords(t).unwrap();
                assert_eq!(r.coords(t).unwrap().parent(), Some(pc));
            }
        }
        // the lowest rank among admitted candidates wins
        let best = (0..3u8)
            .min_by_key(|&i| OpenPolicy::default().rank(t as u8, id(i).short()))
            .unwrap();
        assert_eq!(root, id(best).short());
    }
}

#[test]
fn parent_loss_is_repaired_and_old_coords_stay_valid() {
    let mut rs = [router(0), router(1), router(2)];
    let now = line(&mut rs, 15);
    // find a tree whose root is node 0 or 2 so that node 1 is the middle
    let t = 0;
    let leaf = (0..3).find(|&i| rs[i].coords(t).unwrap().depth() == 2);
    if let Some(leaf) = leaf {
        let old = rs[leaf].coords(t).unwrap();
        // the middle node disappears: the leaf's parent is lost
        let p = rs[leaf].parent(t).unwrap();
        rs[leaf].on_neighbour_lost(now, p);
        assert_eq!(rs[leaf].parent(t), None);
        assert!(!rs[leaf].is_attached(t));
        assert_eq!(
            rs[leaf].beacon_entries().next().unwrap().root_distance,
            DETACHED
        );
        assert_eq!(rs[leaf].coords(t), Some(old));
    }
}

#[test]
fn root_loss_elects_a_new_root() {
    let mut rs = [router(0), router(1), router(2)];
    let mut now = line(&mut rs, 15);
    let t = 0;
    let root = (0..3).find(|&i| rs[i].is_root(t)).unwrap();
    let others: [usize; 2] = match root {
        0 => [1, 2],
        1 => [0, 2],
        _ => [0, 1],
    };
    // the root goes silent; the two others keep beaconing to each other if adjacent
    for _ in 0..40 {
        now = now.add(S);
        for &o in &others {
            rs[o].handle_timeout(now);
        }
        if others[1] == others[0] + 1 {
            beacon(&mut rs, now, others[0], others[1]);
            beacon(&mut rs, now, others[1], others[0]);
        }
    }
    for &o in &others {
        assert!(rs[o].is_attached(t));
        assert_ne!(rs[o].tree_state(t).unwrap().0, id(root as u8).short());
        assert!(rs[o].stats().root_losses >= 1 || rs[o].is_root(t));
    }
}

#[test]
fn join_assign_and_leases() {
    let mut rs = [router(0), router(1)];
    let now = line(&mut rs, 10);
    let t = 0;
    let parent = (0..2).find(|&i| rs[i].is_root(t)).unwrap();
    let child = 1 - parent;
    assert_eq!(rs[child].coords(t).unwrap().depth(), 1);
    assert_eq!(rs[child].parent(t), Some(NeighbourId(parent as u16)));
    // a leaf device gets coordinates below the parent, and frames for it are proxied
    let leaf = id(9);
    assert!(
        rs[parent]
            .grant_lease(now, NeighbourId(7), leaf, S.times(60))
            .is_some()
    );
    let (d, m) = rs[parent].poll_message().unwrap();
    assert_eq!(d, Dest::Neighbour(NeighbourId(7)));
    assert_eq!(m.op, Op::LeaseGrant);
    let Address::Coords(lc) = m.address else {
        panic!()
    };
    assert_eq!(lc.parent(), rs[parent].coords(t));
    assert_ne!(lc, rs[child].coords(t).unwrap());
    let mut dest = [None; 2];
    dest[t] = Some(lc);
    let dec = rs[parent].next_hop(now, t, &dest, crate::Metric::TreeDistance, &[]);
    assert_eq!(dec, crate::Decision::Proxy(leaf));
    // the lease lapses
    rs[parent].handle_timeout(now.add(S.times(61)));
    assert_eq!(rs[parent].leases().count(), 0);
}

#[test]
fn epochs_match_within_a_window() {
    let mut rs = [router(0), router(1)];
    line(&mut rs, 10);
    let (_, e) = rs[0].tree_state(0).unwrap();
    assert!(rs[0].epoch_matches(0, e, 4));
    assert!(rs[0].epoch_matches(0, e.wrapping_sub(3), 4));
    assert!(!rs[0].epoch_matches(0, e.wrapping_add(100), 4));
}

#[test]
fn poll_timeout_moves_forward() {
    let mut r = router(0);
    assert_eq!(r.poll_timeout(), Some(Instant(0)));
    r.handle_timeout(Instant(5));
    assert_eq!(r.poll_timeout(), Some(Instant(5 + 500_000)));
    assert!(!r.take_beacon_request());
}

mod arbitrary {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[derive(Debug, Clone)]
    enum Input {
        Beacon(u8, u8, u8, u16, Vec<u16>),
        Message(u8, u8, u8, Vec<u16>),
        Lost(u8),
        Tick(u16),
    }

    fn input() -> impl Strategy<Value = Input> {
        let coords = proptest::collection::vec(0u16..20, 0..34);
        prop_oneof![
            (0u8..6, 0u8..4, any::<u8>(), any::<u16>(), coords.clone())
                .prop_map(|(n, r, d, e, c)| Input::Beacon(n, r, d, e, c)),
            (0u8..6, 1u8..7, 0u8..3, coords).prop_map(|(n, op, t, c)| Input::Message(n, op, t, c)),
            (0u8..6).prop_map(Input::Lost),
            any::<u16>().prop_map(Input::Tick),
        ]
    }

    proptest! {
        /// Arbitrary beacons, tree messages, losses and timeouts never panic, and the router's
        /// own state stays representable: coordinates at most 32 deep, a root has empty
        /// coordinates, a parent is a known neighbour.
        #[test]
        fn any_input_sequence_is_safe(inputs in proptest::collection::vec(input(), 0..120)) {
            let mut r = router(100);
            let mut now = Instant(0);
            for i in inputs {
                match i {
                    Input::Beacon(n, root, dist, epoch, c) => {
                        let Ok(coords) = Coords::new(&c[..c.len().min(32)]) else { continue };
                        let e = TreeEntry { root: id(root).short(), epoch, root_distance: dist, coords };
                        r.on_beacon(now, NeighbourId(u16::from(n)), id(n), 200, &[e, e]);
                    }
                    Input::Message(n, op, t, c) => {
                        let Ok(coords) = Coords::new(&c[..c.len().min(32)]) else { continue };
                        let op = Op::try_from(op).unwrap();
                        let subject = if n % 2 == 0 { id(100) } else { id(n) };
                        let m = TreeRepr { op, tree: t, epoch: 0, subject, address: Address::Coords(coords) };
                        r.on_tree_message(now, NeighbourId(u16::from(n)), &m);
                    }
                    Input::Lost(n) => r.on_neighbour_lost(now, NeighbourId(u16::from(n))),
                    Input::Tick(ms) => {
                        now = now.add(Duration::from_millis(u64::from(ms)));
                        r.handle_timeout(now);
                    }
                }
                while r.poll_message().is_some() {}
                for t in 0..2 {
                    if let Some(c) = r.coords(t) {
                        prop_assert!(c.depth() <= 32);
                        if r.is_root(t) {
                            prop_assert_eq!(c.depth(), 0);
                        }
                    }
                    if let Some(p) = r.parent(t) {
                        prop_assert!(r.neighbours().any(|(n, _)| n == p));
                    }
                }
            }
        }
    }
}

/// A better candidate that arrives late joins the existing tree and claims only after
/// `claim_hold`; then the whole tree migrates to it once (no flapping before that).
#[test]
fn late_better_candidate_waits_for_claim_hold() {
    let p = OpenPolicy::default();
    let rank = |i: u8| p.rank(0, id(i).short()).unwrap();
    let best_old = (0..3u8).map(rank).min().unwrap();
    let newcomer = (10..250u8).find(|&i| rank(i) < best_old).unwrap();
    let mut rs = [router(0), router(1), router(2), router(newcomer)];
    // the newcomer starts late: give it its own start time by resetting its router later
    let mut now = Instant(0);
    let step = |rs: &mut [R; 4], now: Instant, with_new: bool| {
        let n = if with_new { 4 } else { 3 };
        for r in rs[..n].iter_mut() {
            r.handle_timeout(now);
        }
        for a in 0..n {
            if a > 0 {
                beacon(&mut rs[..n], now, a, a - 1);
            }
            if a + 1 < n {
                beacon(&mut rs[..n], now, a, a + 1);
            }
        }
    };
    for _ in 0..15 {
        now = now.add(S);
        step(&mut rs, now, false);
    }
    let mut cfg = Config::new(id(newcomer), S);
    cfg.trees = 2;
    rs[3] = Router::new(cfg, OpenPolicy::default(), now);
    for _ in 0..60 {
        now = now.add(S);
        step(&mut rs, now, true);
    }
    assert!(!rs[3].is_root(0), "claimed before claim_hold");
    assert!(rs[3].is_attached(0));
    for _ in 0..90 {
        now = now.add(S);
        step(&mut rs, now, true);
    }
    assert!(rs[3].is_root(0), "never claimed");
    for r in &rs {
        assert_eq!(r.tree_state(0).unwrap().0, id(newcomer).short());
        assert!(r.is_attached(0));
    }
    assert_eq!(rs[3].stats().claims, 1);
}

#[test]
fn admitted_policy_ranks_only_admitted_roots() {
    let mut p = AdmittedPolicy::<2>::new(5, false);
    let mut ids: std::vec::Vec<ShortId> = (1..=4u8).map(|i| ShortId([i; 4])).collect();
    let best = |s: ShortId| {
        (0..3)
            .filter_map(|t| OpenPolicy { key: 5 }.rank(t, s))
            .min()
    };
    ids.sort_by_key(|s| best(*s));
    let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3]);
    assert_eq!(p.rank(0, a), None);
    assert!(p.admit(d, &[]));
    assert!(!p.admit(d, &[]));
    assert_eq!(p.rank(0, d), OpenPolicy { key: 5 }.rank(0, d));
    assert!(p.admit(a, &[]));
    // Full: the worst-ranked admission not in use makes room, whatever the newcomer's rank.
    assert!(p.admit(c, &[]));
    assert_eq!(p.rank(1, d), None);
    assert!(p.rank(1, a).is_some() && p.rank(1, c).is_some());
    // In use is never evicted: with a in use, c (the worst other) gives way to b.
    assert!(p.admit(b, &[a]));
    assert_eq!(p.rank(1, c), None);
    // Everything in use: nothing is admitted.
    assert!(!p.admit(d, &[a, b]));
    assert!(AdmittedPolicy::<2>::new(5, true).rank(0, d).is_some());
}

/// Every edge of `edges` beacons both ways, except `blocked` (from, to); `heard` keeps the
/// blocked link alive through other traffic, as the core does with any authenticated frame.
fn rounds(
    rs: &mut [R],
    mut now: Instant,
    n: u64,
    edges: &[(usize, usize)],
    blocked: Option<(usize, usize)>,
) -> Instant {
    for _ in 0..n {
        now = now.add(S);
        for r in rs.iter_mut() {
            r.handle_timeout(now);
        }
        for &(a, b) in edges {
            for (x, y) in [(a, b), (b, a)] {
                if blocked == Some((x, y)) {
                    rs[y].heard(now, NeighbourId(x as u16));
                } else {
                    beacon(rs, now, x, y);
                }
            }
        }
    }
    now
}

/// A 4-cycle (the node opposite each root has two parents to choose from) settled for 20
/// rounds, for tree `t`: the routers, the time, that opposite node and its root.
const CYCLE: [(usize, usize); 4] = [(0, 1), (1, 3), (3, 2), (2, 0)];

fn settled_cycle(t: usize) -> ([R; 4], Instant, usize, ShortId) {
    let mut rs = [router(0), router(1), router(2), router(3)];
    let now = rounds(&mut rs, Instant(0), 20, &CYCLE, None);
    let far = (0..4)
        .find(|&i| rs[i].coords(t).unwrap().depth() == 2)
        .unwrap();
    let root = rs[far].tree_state(t).unwrap().0;
    (rs, now, far, root)
}

#[test]
fn a_parent_whose_beacons_stall_is_replaced_without_losing_the_root() {
    for t in 0..2 {
        let (mut rs, now, far, root) = settled_cycle(t);
        let p = usize::from(rs[far].parent(t).unwrap().0);
        let q = CYCLE
            .iter()
            .filter_map(|&(a, b)| match (a == far, b == far) {
                (true, _) => Some(b),
                (_, true) => Some(a),
                _ => None,
            })
            .find(|&x| x != p)
            .unwrap();
        // p stays alive (its other frames arrive) but its beacons no longer reach `far`: the
        // root's heartbeat stalls there while q keeps offering newer epochs.
        // Within `stale_after` (5 intervals) and a join, well before `stale_upstream` (8).
        rounds(&mut rs, now, 7, &CYCLE, Some((p, far)));
        assert_eq!(rs[far].parent(t), Some(NeighbourId(q as u16)), "tree {t}");
        assert_eq!(rs[far].tree_state(t).unwrap().0, root);
        assert_eq!(rs[far].stats().root_losses, 0);
        assert!(rs[far].is_attached(t));
    }
}

#[test]
fn a_stall_upstream_is_left_to_the_parent_then_routed_around() {
    for t in 0..2 {
        let (mut rs, now, far, root) = settled_cycle(t);
        let p = rs[far].parent(t).unwrap();
        let top = usize::from(rs[usize::from(p.0)].parent(t).unwrap().0);
        // The root's beacons stop reaching p (alive otherwise); p still beacons to `far`, with
        // an epoch that no longer advances: the stall is upstream, `far` keeps its parent.
        let now = rounds(&mut rs, now, 6, &CYCLE, Some((top, usize::from(p.0))));
        assert_eq!(rs[far].parent(t), Some(p), "tree {t}");
        // p cannot repair (its only other neighbour is its own child) and times the root out;
        // then `far` moves to its other neighbour without losing the root itself.
        rounds(&mut rs, now, 12, &CYCLE, Some((top, usize::from(p.0))));
        assert_ne!(rs[far].parent(t), Some(p), "tree {t}");
        assert_eq!(rs[far].tree_state(t).unwrap().0, root);
        assert_eq!(rs[far].stats().root_losses, 0);
    }
}
