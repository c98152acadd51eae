//! Tree maintenance internals: child bookkeeping, following the parent, join/assign/leave,
//! claims, timers and the parent choice (`docs/spec/routing.md` §2–§4).

use hyphae_wire::address::MAX_DEPTH;
use hyphae_wire::tree::Op;
use hyphae_wire::{Coords, NodeId, TreeRepr};

use super::{DETACHED, Dest, EPOCH_ROOT_JUMP, Neighbour, ParentKey, RootPolicy, Router};
use crate::{Duration, Instant, NeighbourId, epoch_newer, mix64};

impl<P: RootPolicy, const K: usize, const N: usize, const L: usize> Router<P, K, N, L> {
    /// Keep the child table in line with what neighbour `slot` advertises in tree `t`.
    pub(super) fn check_child(&mut self, now: Instant, t: usize, slot: usize) {
        let Some(n) = self.nbs[slot] else {
            return;
        };
        let tree = self.trees[t];
        let nt = n.trees[t];
        let under = |base: &Coords| -> Option<u16> {
            (nt.has
                && nt.root == tree.root
                && nt.coords.depth() == base.depth() + 1
                && base.is_prefix_of(&nt.coords))
            .then(|| nt.coords.last_level())
            .flatten()
        };
        let claimed = if tree.placed {
            under(&tree.coords).or_else(|| tree.prev_valid(now).and_then(|p| under(&p)))
        } else {
            None
        };
        match nt.child {
            Some(i) => {
                let settled = now.since(nt.child_since) > self.cfg.join_timeout;
                if claimed != Some(i) && settled && nt.has {
                    self.quarantine(now, t, i);
                    if let Some(n) = self.nbs[slot].as_mut() {
                        n.trees[t].child = None;
                    }
                }
            }
            None => {
                if let Some(i) = claimed.filter(|_| tree.attached()) {
                    if !self.index_used(now, t, i) {
                        // Adopt (we restarted, or our record lapsed).
                        if let Some(n) = self.nbs[slot].as_mut() {
                            n.trees[t].child = Some(i);
                            n.trees[t].child_since = now;
                        }
                    } else if nt.dist != DETACHED {
                        let msg = self.msg(Op::Leave, t, n.node, tree.coords);
                        self.push(Dest::Neighbour(n.id), msg);
                    }
                }
            }
        }
    }

    /// Our parent's beacon: adopt its epoch, root and coordinates.
    pub(super) fn follow_parent(&mut self, now: Instant, t: usize, slot: usize) {
        let Some(n) = self.nbs[slot] else {
            return;
        };
        let e = n.trees[t];
        self.trees[t].parent_seen = now;
        if !e.has || e.dist >= DETACHED - 1 {
            // The parent lost its own path: keep it while we look for a feasible alternative,
            // and stop offering a path ourselves.
            if !self.trees[t].upstream_lost {
                self.trees[t].upstream_lost = true;
                self.beacon_wanted = true;
            }
            return;
        }
        let tree = &mut self.trees[t];
        if tree.upstream_lost {
            tree.upstream_lost = false;
            self.beacon_wanted = true;
        }
        let same_root = e.root == tree.root;
        if same_root {
            if epoch_newer(e.epoch, tree.epoch) {
                tree.epoch = e.epoch;
                tree.epoch_at = now;
            }
        } else {
            let Some(rank) = self.policy.rank(t as u8, e.root) else {
                self.trees[t].parent = None;
                self.beacon_wanted = true;
                return;
            };
            tree.root = e.root;
            tree.rank = rank;
            tree.epoch = e.epoch;
            tree.epoch_at = now;
            tree.dead = None;
            self.beacon_wanted = true;
        }
        let tree = &mut self.trees[t];
        tree.dist = e.dist + 1;
        match e.coords.child(tree.index) {
            Ok(c) if c != tree.coords => {
                tree.set_coords(now, self.cfg.grace, c, same_root);
                self.stats.renumbers += 1;
                self.beacon_wanted = true;
            }
            Ok(_) => {}
            Err(_) => {
                // Too deep to represent: leave this parent.
                tree.parent = None;
                self.beacon_wanted = true;
            }
        }
    }

    pub(super) fn on_join(&mut self, now: Instant, t: usize, slot: usize, subject: NodeId) {
        let Some(n) = self.nbs[slot] else {
            return;
        };
        let tree = self.trees[t];
        if !tree.attached() || tree.coords.depth() >= MAX_DEPTH {
            let msg = self.msg(Op::Leave, t, subject, tree.coords);
            self.push(Dest::Neighbour(n.id), msg);
            return;
        }
        let idx = match n.trees[t].child {
            Some(i) => Some(i),
            None => self.free_index(now, t),
        };
        let Some(idx) = idx else {
            let msg = self.msg(Op::Leave, t, subject, tree.coords);
            self.push(Dest::Neighbour(n.id), msg);
            return;
        };
        if let Some(nm) = self.nbs[slot].as_mut() {
            nm.trees[t].child = Some(idx);
            nm.trees[t].child_since = now;
        }
        if let Ok(c) = tree.coords.child(idx) {
            let msg = self.msg(Op::Assign, t, subject, c);
            self.push(Dest::Neighbour(n.id), msg);
        }
    }

    pub(super) fn on_assign(
        &mut self,
        now: Instant,
        t: usize,
        slot: usize,
        msg: &TreeRepr,
        addr: Coords,
    ) {
        let Some(n) = self.nbs[slot] else {
            return;
        };
        if msg.subject != self.cfg.node || self.trees[t].pending.map(|(p, _)| p) != Some(n.id) {
            return;
        }
        let e = n.trees[t];
        let (Some(parent_coords), Some(index)) = (addr.parent(), addr.last_level()) else {
            return;
        };
        let Some(rank) = self.policy.rank(t as u8, e.root) else {
            self.trees[t].pending = None;
            return;
        };
        if !e.has || parent_coords != e.coords {
            // The parent moved between its beacon and the assignment: wait for its next beacon.
            self.trees[t].pending = None;
            return;
        }
        let old = self.trees[t].parent;
        if let Some(old) = old.filter(|&o| o != n.id) {
            let c = self.trees[t].coords;
            let leave = self.msg(Op::Leave, t, self.cfg.node, c);
            self.push(Dest::Neighbour(old), leave);
        }
        let grace = self.cfg.grace;
        let tree = &mut self.trees[t];
        if tree.placed && tree.coords != addr {
            self.stats.renumbers += 1;
        }
        let same_root = tree.placed && tree.root == e.root && tree.dead.is_none();
        tree.set_coords(now, grace, addr, same_root);
        if tree.root != e.root || epoch_newer(msg.epoch, tree.epoch) || !tree.is_root {
            tree.epoch = if epoch_newer(msg.epoch, e.epoch) {
                msg.epoch
            } else {
                e.epoch
            };
        }
        tree.root = e.root;
        tree.rank = rank;
        tree.epoch_at = now;
        tree.dist = e.dist.saturating_add(1);
        tree.index = index;
        tree.parent = Some(n.id);
        tree.parent_seen = now;
        tree.upstream_lost = false;
        tree.is_root = false;
        tree.pending = None;
        tree.better = None;
        tree.claim_at = None;
        tree.worse_since = None;
        if tree.dead.is_some_and(|(r, _)| r != e.root) {
            tree.dead = None;
        }
        self.stats.reparents += 1;
        self.beacon_wanted = true;
    }

    pub(super) fn on_leave(&mut self, now: Instant, t: usize, from: NeighbourId, subject: NodeId) {
        let Some(slot) = self.slot(from) else {
            return;
        };
        let Some(n) = self.nbs[slot] else {
            return;
        };
        if let Some(i) = n.trees[t].child.filter(|_| subject == n.node) {
            self.quarantine(now, t, i);
            if let Some(nm) = self.nbs[slot].as_mut() {
                nm.trees[t].child = None;
            }
        }
        if subject == self.cfg.node {
            let tree = &mut self.trees[t];
            if tree.pending.is_some_and(|(p, _)| p == from) {
                tree.pending = None;
                let until = now.add(self.cfg.join_timeout.times(5));
                if let Some(nm) = self.nbs[slot].as_mut() {
                    nm.trees[t].refused_until = until;
                }
            }
            if tree.parent == Some(from) {
                tree.parent = None;
                self.beacon_wanted = true;
            }
            self.evaluate(now, t);
        }
    }

    pub(super) fn become_root(&mut self, now: Instant, t: usize) {
        let Some(rank) = self.own_rank(t) else {
            return;
        };
        let r = self.next_rand() as u16;
        let grace = self.cfg.grace;
        let me = self.cfg.node;
        if let Some(old) = self.trees[t].parent {
            let c = self.trees[t].coords;
            let leave = self.msg(Op::Leave, t, me, c);
            self.push(Dest::Neighbour(old), leave);
        }
        let tree = &mut self.trees[t];
        tree.epoch = match tree.dead {
            Some((_, e)) => e.wrapping_add(EPOCH_ROOT_JUMP),
            None if tree.placed => tree.epoch.wrapping_add(EPOCH_ROOT_JUMP),
            None => r,
        };
        tree.set_coords(now, grace, Coords::ROOT, false);
        tree.is_root = true;
        tree.root = me.short();
        tree.rank = rank;
        tree.epoch_at = now;
        tree.dist = 0;
        tree.parent = None;
        tree.pending = None;
        tree.dead = None;
        tree.claim_at = None;
        tree.better = None;
        tree.worse_since = None;
        self.stats.claims += 1;
        self.beacon_wanted = true;
        let claim = self.msg(Op::Claim, t, me, Coords::ROOT);
        self.push(Dest::Broadcast, claim);
    }

    pub(super) fn tick_tree(&mut self, now: Instant, t: usize) {
        let interval = self.cfg.beacon_interval;
        let own_rank = self.own_rank(t);
        if self.trees[t]
            .pending
            .is_some_and(|(_, deadline)| now >= deadline)
        {
            self.trees[t].pending = None;
        }
        let tree = &mut self.trees[t];
        if tree.is_root {
            if now.since(tree.epoch_at) >= interval {
                tree.epoch = tree.epoch.wrapping_add(1);
                tree.epoch_at = now;
            }
            return;
        }
        if tree.placed && tree.dead.is_none() && now.since(tree.epoch_at) > self.cfg.root_timeout {
            // No heartbeat from the root: it is gone, or we are cut off from it.
            tree.dead = Some((tree.root, tree.epoch));
            tree.parent = None;
            tree.rank = u64::MAX;
            self.stats.root_losses += 1;
            self.beacon_wanted = true;
        }
        let tree = &mut self.trees[t];
        let rootless = !tree.placed || tree.dead.is_some();
        if let Some(rank) = own_rank {
            if rootless {
                let at = *tree.claim_at.get_or_insert_with(|| {
                    let frac = rank >> 44; // 20 bits
                    let spread = self.cfg.claim_spread.0 / (1 << 20) * frac;
                    let base = if tree.placed {
                        now
                    } else {
                        self.started.add(self.cfg.boot_holdoff)
                    };
                    base.add(Duration(spread))
                });
                if now >= at {
                    self.become_root(now, t);
                    return;
                }
            } else if tree.attached() && rank < tree.rank {
                let since = *tree.worse_since.get_or_insert(now);
                if now.since(since) >= self.cfg.claim_hold {
                    self.become_root(now, t);
                    return;
                }
            } else {
                tree.worse_since = None;
            }
        }
        self.evaluate(now, t);
    }

    /// Is neighbour entry `e` usable as a parent in tree `t` at all?
    pub(super) fn usable(&self, now: Instant, t: usize, n: &Neighbour<K>) -> Option<u64> {
        let e = &n.trees[t];
        let tree = &self.trees[t];
        if !e.has
            || e.dist >= DETACHED - 1
            || n.quality < self.cfg.min_quality
            || now < e.refused_until
        {
            return None;
        }
        if e.coords.depth() >= MAX_DEPTH {
            return None;
        }
        if tree
            .dead
            .is_some_and(|(r, ep)| e.root == r && !epoch_newer(e.epoch, ep))
        {
            return None;
        }
        if tree.placed && e.root == tree.root {
            let mine = tree.coords;
            if mine.is_prefix_of(&e.coords)
                || tree
                    .prev_valid(now)
                    .is_some_and(|p| p.is_prefix_of(&e.coords))
            {
                return None; // our own subtree
            }
        }
        self.policy.rank(t as u8, e.root)
    }

    /// Ordering key of a parent candidate (smaller is better).
    pub(super) fn parent_key(&self, t: usize, n: &Neighbour<K>) -> ParentKey {
        let diversity = (0..self.tree_count())
            .filter(|&o| o != t && self.trees[o].parent == Some(n.id))
            .count() as u8;
        let tie = mix64(self.cfg.seed ^ (t as u64) << 56 ^ u64::from_le_bytes(n.node.0));
        (n.trees[t].dist, diversity, (255 - n.quality) / 64, tie)
    }

    /// Decide whether to join a better root, repair, or re-parent in tree `t`.
    pub(super) fn evaluate(&mut self, now: Instant, t: usize) {
        let tree = &self.trees[t];
        if tree.pending.is_some() || !self.cfg.joins {
            return;
        }
        let current_rank = if tree.attached() || tree.placed && tree.dead.is_none() {
            tree.rank
        } else {
            u64::MAX
        };
        // Whether the current parent still offers a path (independent of the candidate).
        let parent_alive = tree.parent.is_some_and(|p| {
            self.slot(p)
                .and_then(|ps| self.nbs[ps].as_ref())
                .is_some_and(|pn| pn.trees[t].has && pn.trees[t].dist < DETACHED - 1)
        });
        // Best root on offer, then the best parent for it.
        let mut best: Option<(u64, ParentKey, usize)> = None;
        // Steady state: attached (or root) in the tree instance a neighbour offers, so only a
        // strictly shorter path could change anything. Filter those out before the costlier
        // checks of `usable` (subtree test, policy rank); the outcome is the same.
        let settled = tree.placed && tree.dead.is_none() && (tree.is_root || parent_alive);
        // Our heartbeat is overdue, because the parent's beacons no longer arrive or (later)
        // because the parent could not repair its own stall: any neighbour with a newer epoch
        // is a way round it.
        let overdue = now.since(tree.epoch_at);
        let stalled = !tree.is_root
            && tree.parent.is_some()
            && (overdue >= self.cfg.stale_upstream
                || overdue >= self.cfg.stale_after
                    && now.since(tree.parent_seen) >= self.cfg.stale_after);
        let own_epoch = tree.epoch;
        let way_round = |epoch: u16| stalled && epoch_newer(epoch, own_epoch);
        for s in 0..N {
            let Some(n) = self.nbs[s].as_ref() else {
                continue;
            };
            let e = &n.trees[t];
            if settled
                && e.has
                && e.root == tree.root
                && (tree.is_root || e.dist.saturating_add(1) >= tree.dist)
                && !way_round(e.epoch)
            {
                continue;
            }
            let Some(rank) = self.usable(now, t, n) else {
                continue;
            };
            let e = n.trees[t];
            let same = tree.placed && e.root == tree.root && tree.dead.is_none();
            if same && !tree.is_root {
                // Feasibility within our own tree instance: a newer heartbeat, or the same one
                // from nearer the root.
                let feasible = epoch_newer(e.epoch, tree.epoch)
                    || (e.epoch == tree.epoch && e.dist < tree.dist);
                // While our heartbeat stalls, a neighbour with a newer epoch beats the parent.
                let parent_ok = parent_alive && !way_round(e.epoch);
                if parent_ok || !feasible {
                    // Attached: only a strictly shorter path, considered with hysteresis.
                    if !(parent_ok && e.dist.saturating_add(1) < tree.dist) {
                        continue;
                    }
                }
            } else if rank >= current_rank {
                continue;
            }
            let key = self.parent_key(t, n);
            if best.is_none_or(|(br, bk, _)| (rank, key) < (br, bk)) {
                best = Some((rank, key, s));
            }
        }
        let Some((rank, _, s)) = best else {
            self.trees[t].better = None;
            return;
        };
        let Some(n_id) = self.nbs[s].as_ref().map(|n| n.id) else {
            return;
        };
        let tree = &self.trees[t];
        let same_root = tree.placed && rank == tree.rank && tree.dead.is_none();
        let (is_root, better) = (tree.is_root, tree.better);
        let lagging = self.nbs[s]
            .as_ref()
            .is_some_and(|n| way_round(n.trees[t].epoch));
        let parent_ok = !lagging
            && tree.parent.is_some_and(|p| {
                self.slot(p)
                    .and_then(|ps| self.nbs[ps].as_ref())
                    .is_some_and(|pn| pn.trees[t].has && pn.trees[t].dist < DETACHED - 1)
            });
        let reason = if !same_root || is_root {
            super::join_reason::ROOT
        } else if lagging {
            super::join_reason::STALL
        } else if !parent_ok {
            super::join_reason::REPAIR
        } else {
            super::join_reason::SHORTER
        };
        if same_root && parent_ok && !is_root {
            // Optimisation only: require it to persist.
            match better {
                Some((b, since)) if b == n_id => {
                    if now.since(since) < self.cfg.reparent_hold {
                        return;
                    }
                }
                _ => {
                    self.trees[t].better = Some((n_id, now));
                    return;
                }
            }
        }
        self.stats.joins[reason] += 1;
        self.join(now, t, s);
    }

    pub(super) fn join(&mut self, now: Instant, t: usize, slot: usize) {
        let Some(n) = self.nbs[slot] else { return };
        let mut msg = self.msg(Op::JoinRequest, t, self.cfg.node, n.trees[t].coords);
        msg.epoch = n.trees[t].epoch;
        self.push(Dest::Neighbour(n.id), msg);
        self.trees[t].pending = Some((n.id, now.add(self.cfg.join_timeout)));
        self.trees[t].better = None;
    }
}
