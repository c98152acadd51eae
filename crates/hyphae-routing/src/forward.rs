//! Greedy forwarding across all trees (`docs/spec/routing.md` §6).
//!
//! [`Router::next_hop`](crate::Router::next_hop) is the pure rule: among live neighbours, the
//! one whose distance to the destination (in any tree where the destination's coordinates are
//! known) is strictly below this node's distance in the frame's tree; the smallest wins, the
//! frame's own tree wins ties. The carried value strictly decreases hop by hop, so a frame can
//! never loop. [`Forwarder`] adds bounded depth-first backtracking with a small per-node cache.

use hyphae_wire::{Coords, NodeId};

use crate::metric::Metric;
use crate::router::{RootPolicy, Router};
use crate::{Duration, Instant, NeighbourId, mix64};

/// Candidates a node tries per frame before it backtracks.
pub const MAX_TRIES: usize = 4;

/// What to do with a routed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// This node is the destination (current or grace-period coordinates).
    Deliver,
    /// The destination is a device holding a lease from this node: deliver it on its behalf.
    Proxy(NodeId),
    /// Send to `neighbour`, with the header rewritten to tree `tree` and destination `coords`.
    Forward {
        /// Next hop.
        neighbour: NeighbourId,
        /// Tree index for the routing header.
        tree: u8,
        /// Destination coordinates in that tree.
        coords: Coords,
    },
    /// Local minimum: return the frame (error flag set) to this neighbour, the predecessor.
    Backtrack(NeighbourId),
    /// No way forward and nowhere to return: send an `Error` unreachable notice to the origin.
    Unreachable,
}

impl<P: RootPolicy, const K: usize, const N: usize, const L: usize> Router<P, K, N, L> {
    /// Distance from this node to `dest` in tree `t` (its current or grace coordinates).
    pub fn own_distance(&self, now: Instant, t: usize, dest: &Coords, m: Metric) -> Option<u32> {
        let tree = self.trees.get(t).filter(|s| s.placed)?;
        let cur = m.distance(&tree.coords, dest);
        Some(match tree.prev_valid(now) {
            Some(p) => cur.min(m.distance(&p, dest)),
            None => cur,
        })
    }

    /// The greedy next hop toward `dest` (coordinates per tree, `None` where unknown) for a
    /// frame carried in tree `tree`, skipping the neighbours in `exclude`. Never returns
    /// [`Decision::Backtrack`]: a dead end is [`Decision::Unreachable`] here.
    pub fn next_hop(
        &self,
        now: Instant,
        tree: usize,
        dest: &[Option<Coords>],
        metric: Metric,
        exclude: &[NeighbourId],
    ) -> Decision {
        let trees = self.tree_count().min(dest.len());
        // Delivery: our own position, or a leased position below us.
        for (t, d) in dest.iter().enumerate().take(trees) {
            let Some(d) = d else { continue };
            let mine = &self.trees[t];
            if mine.placed && mine.coords == *d {
                return Decision::Deliver;
            }
            // Previous coordinates (grace period) deliver only if no neighbour holds them now.
            if mine.prev_valid(now) == Some(*d)
                && !self.nbs.iter().flatten().any(|n| {
                    n.trees[t].has && n.trees[t].root == mine.root && n.trees[t].coords == *d
                })
            {
                return Decision::Deliver;
            }
            if let Some(parent) = d.parent().filter(|p| self.trees[t].holds(now, p)) {
                let idx = d.last_level();
                if let Some(l) = self.leases().find(|l| l.index[t] == idx && idx.is_some()) {
                    let _ = parent;
                    return Decision::Proxy(l.node);
                }
            }
        }
        let own = |t: usize| {
            dest.get(t)
                .copied()
                .flatten()
                .and_then(|d| self.own_distance(now, t, &d, metric))
        };
        // Progress is measured by the best tree (PIE): a neighbour must be strictly closer
        // than this node in the tree where this node is closest.
        let threshold = (0..trees).filter_map(own).min();
        let _ = tree;
        let Some(threshold) = threshold else {
            return Decision::Unreachable;
        };
        // Current coordinates first; previous ones (grace period) only as a fallback.
        let mut best: Option<(HopKey, NeighbourId, usize, Coords)> = None;
        for n in self.nbs.iter().flatten() {
            if exclude.contains(&n.id) {
                continue;
            }
            // This neighbour's best tree below the threshold; among neighbours with the same
            // best distance, the one closer in the other trees too (sum) wins.
            let mut own_best: Option<(bool, u32, bool, usize, Coords)> = None;
            let mut sum = 0u32;
            for (t, d) in dest.iter().enumerate().take(trees) {
                let (Some(d), nt, mine) = (*d, n.trees[t], self.trees[t]) else {
                    continue;
                };
                if !nt.has || !mine.placed || nt.root != mine.root {
                    continue;
                }
                let cur = metric.distance(&nt.coords, &d);
                sum = sum.saturating_add(cur);
                let old = nt
                    .prev
                    .filter(|_| now < nt.prev_until)
                    .map_or(u32::MAX, |p| metric.distance(&p, &d));
                let (stale, dist) = if cur < threshold {
                    (false, cur)
                } else {
                    (true, old)
                };
                if dist >= threshold {
                    continue;
                }
                let k = (stale, dist, t != tree, t, d);
                if own_best.is_none_or(|b| (k.0, k.1, k.2) < (b.0, b.1, b.2)) {
                    own_best = Some(k);
                }
            }
            let Some((stale, dist, switch, t, d)) = own_best else {
                continue;
            };
            let tie = mix64(self.cfg.seed ^ u64::from(n.id.0));
            let key = (stale, dist, sum, switch, 255 - n.quality, tie);
            if best.is_none_or(|(bk, ..)| key < bk) {
                best = Some((key, n.id, t, d));
            }
        }
        match best {
            Some((_, neighbour, t, coords)) => Decision::Forward {
                neighbour,
                tree: t as u8,
                coords,
            },
            None => Decision::Unreachable,
        }
    }
}

/// Next-hop preference: stale (grace-period) coordinates last, distance, sum of distances over
/// the trees, tree switch, link
/// quality, tie-break (smaller is better).
type HopKey = (bool, u32, u32, bool, u8, u64);

#[derive(Debug, Clone, Copy)]
struct Visit {
    key: u32,
    pred: Option<NeighbourId>,
    tree: u8,
    tried: [Option<NeighbourId>; MAX_TRIES],
    until: Instant,
}

/// Per-node memory of frames in flight for depth-first backtracking (`V` entries).
#[derive(Debug, Clone)]
pub struct Forwarder<const V: usize> {
    visits: [Option<Visit>; V],
    /// How long a visit is remembered.
    pub hold: Duration,
}

impl<const V: usize> Default for Forwarder<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const V: usize> Forwarder<V> {
    /// An empty cache remembering visits for 10 s.
    pub const fn new() -> Self {
        Self {
            visits: [None; V],
            hold: Duration::from_secs(10),
        }
    }

    /// Route one frame. `key` identifies the frame end to end (e.g. a hash of its source
    /// address and transfer id); `from` is the neighbour it came from (`None` at the origin);
    /// `bounced` is set when the frame came back with the error flag from a node we sent it
    /// to. `tree` and `dest` are as in [`Router::next_hop`].
    #[allow(clippy::too_many_arguments)]
    pub fn route<P: RootPolicy, const K: usize, const N: usize, const L: usize>(
        &mut self,
        router: &Router<P, K, N, L>,
        now: Instant,
        key: u32,
        from: Option<NeighbourId>,
        bounced: bool,
        tree: u8,
        dest: &[Option<Coords>],
        metric: Metric,
    ) -> Decision {
        let found = self
            .visits
            .iter()
            .position(|v| v.is_some_and(|v| v.key == key && now < v.until));
        if bounced {
            let Some(i) = found else {
                return Decision::Unreachable;
            };
            let Some(v) = self.visits[i] else {
                return Decision::Unreachable;
            };
            let mut exclude = [NeighbourId(u16::MAX); MAX_TRIES + 1];
            for (slot, t) in exclude.iter_mut().zip(v.tried.iter().flatten()) {
                *slot = *t;
            }
            if let Some(p) = v.pred {
                exclude[MAX_TRIES] = p;
            }
            let free = v.tried.iter().position(Option::is_none);
            let decision = match free {
                Some(_) => router.next_hop(now, usize::from(v.tree), dest, metric, &exclude),
                None => Decision::Unreachable,
            };
            return match (decision, free) {
                (Decision::Forward { neighbour, .. }, Some(f)) => {
                    if let Some(v) = self.visits[i].as_mut() {
                        v.tried[f] = Some(neighbour);
                    }
                    decision
                }
                (Decision::Unreachable, _) | (Decision::Forward { .. }, None) => {
                    self.visits[i] = None;
                    v.pred.map_or(Decision::Unreachable, Decision::Backtrack)
                }
                (d, _) => d,
            };
        }
        if let Some(i) = found {
            if self.visits[i].is_some_and(|v| v.pred == from) {
                // The same frame again from the same predecessor: a retransmission (the first
                // copy or its acknowledgement was lost), not a loop. Route it afresh.
                self.visits[i] = None;
            } else {
                // Came back along another path: already visited, send it back.
                return from.map_or(Decision::Unreachable, Decision::Backtrack);
            }
        }
        let exclude = from.map_or([NeighbourId(u16::MAX)], |f| [f]);
        let decision = router.next_hop(now, usize::from(tree), dest, metric, &exclude);
        match decision {
            Decision::Forward {
                neighbour, tree: t, ..
            } => {
                let slot = self.slot(now);
                let mut tried = [None; MAX_TRIES];
                tried[0] = Some(neighbour);
                self.visits[slot] = Some(Visit {
                    key,
                    pred: from,
                    tree: if dest.get(usize::from(tree)).is_some_and(Option::is_some) {
                        tree
                    } else {
                        t
                    },
                    tried,
                    until: now.add(self.hold),
                });
                decision
            }
            Decision::Unreachable => from.map_or(Decision::Unreachable, Decision::Backtrack),
            d => d,
        }
    }

    /// Visits remembered and not expired at `now`.
    pub fn live(&self, now: Instant) -> usize {
        self.visits
            .iter()
            .flatten()
            .filter(|v| now < v.until)
            .count()
    }

    fn slot(&self, now: Instant) -> usize {
        self.visits
            .iter()
            .position(|v| v.is_none_or(|v| now >= v.until))
            .unwrap_or_else(|| {
                (0..V)
                    .min_by_key(|&i| self.visits[i].map_or(Instant(0), |v| v.until))
                    .unwrap_or(0)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{Config, OpenPolicy};
    use crate::{Address, TreeEntry, TreeOp, TreeRepr};

    type R = Router<OpenPolicy, 1, 8, 1>;

    fn c(v: &[u16]) -> Coords {
        Coords::new(v).unwrap()
    }

    fn entry(root: u8, dist: u8, coords: Coords) -> TreeEntry {
        TreeEntry {
            root: NodeId([root; 8]).short(),
            epoch: 10,
            root_distance: dist,
            coords,
        }
    }

    /// X at /1 under root R (/), neighbours A at /2 and B at /3.
    fn setup() -> R {
        let mut cfg = Config::new(NodeId([9; 8]), Duration::from_secs(1));
        cfg.trees = 1;
        cfg.root_candidate = false;
        let mut x = R::new(cfg, OpenPolicy::default(), Instant(0));
        let now = Instant(1);
        x.on_beacon(
            now,
            NeighbourId(0),
            NodeId([1; 8]),
            200,
            &[entry(1, 0, Coords::ROOT)],
        );
        let (_, join) = x.poll_message().unwrap();
        assert_eq!(join.op, TreeOp::JoinRequest);
        let assign = TreeRepr {
            op: TreeOp::Assign,
            tree: 0,
            epoch: 10,
            subject: NodeId([9; 8]),
            address: Address::Coords(c(&[1])),
        };
        x.on_tree_message(now, NeighbourId(0), &assign);
        assert_eq!(x.coords(0), Some(c(&[1])));
        x.on_beacon(
            now,
            NeighbourId(1),
            NodeId([2; 8]),
            200,
            &[entry(1, 1, c(&[2]))],
        );
        x.on_beacon(
            now,
            NeighbourId(2),
            NodeId([3; 8]),
            200,
            &[entry(1, 1, c(&[3]))],
        );
        x
    }

    #[test]
    fn greedy_picks_the_strictly_closer_neighbour() {
        let x = setup();
        let now = Instant(2);
        let dest = [Some(c(&[2, 5]))];
        let d = x.next_hop(now, 0, &dest, Metric::TreeDistance, &[]);
        assert!(matches!(
            d,
            Decision::Forward {
                neighbour: NeighbourId(1),
                tree: 0,
                ..
            }
        ));
        assert_eq!(
            x.next_hop(now, 0, &[Some(c(&[1]))], Metric::TreeDistance, &[]),
            Decision::Deliver
        );
        assert_eq!(
            x.next_hop(now, 0, &[None], Metric::TreeDistance, &[]),
            Decision::Unreachable
        );
        // CPL metric agrees here
        let d = x.next_hop(now, 0, &dest, Metric::CommonPrefix, &[]);
        assert!(matches!(
            d,
            Decision::Forward {
                neighbour: NeighbourId(1),
                ..
            }
        ));
    }

    #[test]
    fn backtracking_tries_other_candidates_then_gives_up() {
        let x = setup();
        let mut f: Forwarder<4> = Forwarder::new();
        let now = Instant(2);
        let dest = [Some(c(&[2, 5]))];
        let m = Metric::TreeDistance;
        let first = f.route(&x, now, 77, None, false, 0, &dest, m);
        assert!(matches!(
            first,
            Decision::Forward {
                neighbour: NeighbourId(1),
                ..
            }
        ));
        // A returns it: next best strictly closer is the root R
        let second = f.route(&x, now, 77, Some(NeighbourId(1)), true, 0, &dest, m);
        assert!(matches!(
            second,
            Decision::Forward {
                neighbour: NeighbourId(0),
                ..
            }
        ));
        // R returns it too: B is not closer; we are the origin → unreachable
        let third = f.route(&x, now, 77, Some(NeighbourId(0)), true, 0, &dest, m);
        assert_eq!(third, Decision::Unreachable);
        // a frame from a predecessor that finds no candidate goes back to it
        let dead_end = [Some(c(&[1, 4]))];
        let fwd = f.route(&x, now, 5, Some(NeighbourId(2)), false, 0, &dead_end, m);
        assert_eq!(fwd, Decision::Backtrack(NeighbourId(2)));
        // a frame seen before is returned at once
        let again = f.route(&x, now, 77, Some(NeighbourId(2)), false, 0, &dest, m);
        assert!(matches!(
            again,
            Decision::Backtrack(NeighbourId(2)) | Decision::Forward { .. }
        ));
    }
}
