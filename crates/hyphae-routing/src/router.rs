//! Spanning-tree maintenance: root election, parent choice with diversity, coordinates handed out
//! by parents, repair, grace periods and leased addresses (`docs/spec/routing.md` §2–§5).
//!
//! One [`Router`] per node, driven by the core:
//! - push: [`Router::on_beacon`], [`Router::on_tree_message`], [`Router::on_neighbour_lost`],
//!   [`Router::handle_timeout`];
//! - pull: [`Router::poll_message`], [`Router::beacon_entries`], [`Router::poll_timeout`],
//!   [`Router::take_beacon_request`]; forwarding decisions live in [`crate::forward`].

use hyphae_wire::beacon::TreeEntry;
use hyphae_wire::tree::Op;
use hyphae_wire::{Address, Coords, NodeId, ShortId, TreeRepr};

use crate::{Duration, Instant, NeighbourId, mix64};

/// Root distance advertised by a node without a live path to the root ("poisoned").
pub const DETACHED: u8 = u8::MAX;
/// Epoch jump a new root applies over the epoch of the root it replaces.
pub const EPOCH_ROOT_JUMP: u16 = 0x1000;
/// Outgoing tree messages the router buffers.
pub const QUEUE: usize = 16;
/// Freed child indices held back per tree, so old coordinates are not aliased.
pub const QUARANTINE: usize = 8;

/// Decides which identities may be roots and how candidates rank (lower wins).
///
/// Security binds candidacy to admitted, signed identities by implementing this trait; the
/// default [`OpenPolicy`] admits everyone with a keyed per-tree rank.
pub trait RootPolicy {
    /// The rank of `root` as a candidate for tree `tree`, or `None` if it may not be root.
    fn rank(&self, tree: u8, root: ShortId) -> Option<u64>;
}

/// Admits every node; rank = keyed hash of (tree, short id), so each tree gets its own root.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenPolicy {
    /// Network-wide key of the rank hash.
    pub key: u64,
}

impl RootPolicy for OpenPolicy {
    fn rank(&self, tree: u8, root: ShortId) -> Option<u64> {
        let id = u64::from(u32::from_le_bytes(root.0));
        Some(mix64(self.key ^ mix64(id ^ (u64::from(tree) << 40))))
    }
}

/// Admits the roots whose claims the node verified (`security.md` §9), ranked like
/// [`OpenPolicy`]; `open` admits every root (networks without security). Holds `R` roots; when
/// full, the worst-ranked admission that is not in use gives way.
#[derive(Debug, Clone, Copy)]
pub struct AdmittedPolicy<const R: usize> {
    /// Ranking of the admitted roots.
    pub open_policy: OpenPolicy,
    /// Admit every root (no security).
    pub open: bool,
    roots: [Option<ShortId>; R],
}

impl<const R: usize> AdmittedPolicy<R> {
    /// A policy ranking with `key`, admitting every root while `open`.
    pub const fn new(key: u64, open: bool) -> Self {
        Self {
            open_policy: OpenPolicy { key },
            open,
            roots: [None; R],
        }
    }

    /// Whether `root` is admitted.
    pub fn admits(&self, root: ShortId) -> bool {
        self.open || self.roots.contains(&Some(root))
    }

    /// Admit `root` (a verified claim). When full, the admitted root with the worst best rank
    /// over the first three trees that is not in `in_use` gives way (boot-time candidates that
    /// lost, rather than a better root being joined); `false` if it was admitted already or
    /// everything held is in use.
    pub fn admit(&mut self, root: ShortId, in_use: &[ShortId]) -> bool {
        if self.roots.contains(&Some(root)) {
            return false;
        }
        if let Some(free) = self.roots.iter_mut().find(|r| r.is_none()) {
            *free = Some(root);
            return true;
        }
        let best = |r: ShortId| {
            (0..3)
                .filter_map(|t| self.open_policy.rank(t, r))
                .min()
                .unwrap_or(u64::MAX)
        };
        let worst = (0..R)
            .filter(|&i| self.roots[i].is_some_and(|r| !in_use.contains(&r)))
            .max_by_key(|&i| self.roots[i].map_or(0, best));
        match worst {
            Some(i) => {
                self.roots[i] = Some(root);
                true
            }
            None => false,
        }
    }
}

impl<const R: usize> RootPolicy for AdmittedPolicy<R> {
    fn rank(&self, tree: u8, root: ShortId) -> Option<u64> {
        self.admits(root)
            .then(|| self.open_policy.rank(tree, root))
            .flatten()
    }
}

/// Where a tree message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {
    /// One neighbour, unicast.
    Neighbour(NeighbourId),
    /// Every neighbour.
    Broadcast,
}

/// Tuning of the tree protocol; every timer is a multiple of the beacon interval by default.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// This node's id.
    pub node: NodeId,
    /// Trees in use (1..=K).
    pub trees: u8,
    /// Own beacon interval; also the root's epoch refresh period.
    pub beacon_interval: Duration,
    /// A neighbour is lost after this many beacon intervals of silence.
    pub lost_after: u8,
    /// The root is declared dead when the epoch has not advanced for this long.
    pub root_timeout: Duration,
    /// Wait after start before claiming a root.
    pub boot_holdoff: Duration,
    /// Claims after a root loss are spread over this window by rank (best first).
    pub claim_spread: Duration,
    /// A candidate better than the current root claims only after this long attached to it.
    pub claim_hold: Duration,
    /// A shorter parent must stay better for this long before re-parenting.
    pub reparent_hold: Duration,
    /// No beacon from the parent for this long while a neighbour offers a newer epoch shows
    /// that the heartbeat stalls on this very link: re-parent to that neighbour at once (local
    /// repair, before the root timeout tears the subtree down). A parent that beacons an old
    /// epoch stalls upstream, and is left to repair itself until `stale_upstream`.
    pub stale_after: Duration,
    /// No newer epoch for this long, although the parent beacons: it could not repair its own
    /// stall, so re-parent to a neighbour that offers a newer epoch (below `root_timeout`, so
    /// the subtree is rerouted instead of torn down).
    pub stale_upstream: Duration,
    /// Previous coordinates stay valid this long.
    pub grace: Duration,
    /// A join request without an answer is abandoned after this long.
    pub join_timeout: Duration,
    /// How long a leased address lasts without a renewed lease request.
    pub lease_time: Duration,
    /// Links below this quality (0..255) are not used as parents.
    pub min_quality: u8,
    /// Re-parent for quality only when the new link beats the old by this much.
    pub quality_margin: u8,
    /// May this node be a root.
    pub root_candidate: bool,
    /// Does this node join trees at all (a leaf takes a leased address instead, `routing.md`
    /// §5).
    pub joins: bool,
    /// Seed of the node's own pseudo-random choices (epochs, tie-breaks).
    pub seed: u64,
}

impl Config {
    /// Defaults for a node with `interval` between beacons.
    pub fn new(node: NodeId, interval: Duration) -> Self {
        Self {
            node,
            trees: 3,
            beacon_interval: interval,
            lost_after: 3,
            root_timeout: interval.times(10),
            boot_holdoff: interval.times(2),
            claim_spread: interval.times(4),
            claim_hold: interval.times(120),
            reparent_hold: interval.times(3),
            stale_after: interval.times(5),
            stale_upstream: interval.times(8),
            grace: interval.times(5),
            join_timeout: interval.times(2),
            lease_time: interval.times(600),
            min_quality: 32,
            quality_margin: 48,
            root_candidate: true,
            joins: true,
            seed: u64::from_le_bytes(node.0),
        }
    }
}

/// What a neighbour advertised for one tree.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NbTree {
    pub(crate) has: bool,
    pub(crate) root: ShortId,
    pub(crate) epoch: u16,
    pub(crate) dist: u8,
    pub(crate) coords: Coords,
    pub(crate) prev: Option<Coords>,
    pub(crate) prev_until: Instant,
    /// Index this neighbour holds as our child in the tree.
    pub(crate) child: Option<u16>,
    pub(crate) child_since: Instant,
    /// It refused our join request: not a parent candidate until then.
    pub(crate) refused_until: Instant,
}

/// Parent preference: root distance, trees already using the neighbour as parent, link
/// quality bucket, per-node pseudo-random tie-break (smaller is better).
type ParentKey = (u8, u8, u8, u64);

/// One neighbour as the router knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Neighbour<const K: usize> {
    pub(crate) id: NeighbourId,
    pub(crate) node: NodeId,
    pub(crate) last_heard: Instant,
    pub(crate) quality: u8,
    pub(crate) trees: [NbTree; K],
}

/// This node's state in one tree.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tree {
    /// Has a position (root, or attached through a parent at some point).
    pub(crate) placed: bool,
    pub(crate) is_root: bool,
    pub(crate) root: ShortId,
    pub(crate) rank: u64,
    pub(crate) epoch: u16,
    pub(crate) epoch_at: Instant,
    pub(crate) dist: u8,
    pub(crate) coords: Coords,
    pub(crate) prev: Option<Coords>,
    pub(crate) prev_until: Instant,
    pub(crate) parent: Option<NeighbourId>,
    pub(crate) index: u16,
    pub(crate) pending: Option<(NeighbourId, Instant)>,
    pub(crate) dead: Option<(ShortId, u16)>,
    pub(crate) claim_at: Option<Instant>,
    pub(crate) better: Option<(NeighbourId, Instant)>,
    pub(crate) worse_since: Option<Instant>,
    /// Our parent advertises no path to the root.
    pub(crate) upstream_lost: bool,
    /// When the parent's last beacon arrived (or the parent was adopted).
    pub(crate) parent_seen: Instant,
    pub(crate) quarantine: [Option<(u16, Instant)>; QUARANTINE],
}

impl Tree {
    /// Has a live path to its root right now.
    pub(crate) fn attached(&self) -> bool {
        self.is_root || (self.placed && self.parent.is_some())
    }
    fn advertised_dist(&self) -> u8 {
        if self.is_root {
            0
        } else if self.parent.is_some() && self.placed && !self.upstream_lost {
            self.dist
        } else {
            DETACHED
        }
    }
    /// Move to `c`; the old position stays valid for `grace` when `keep_prev` (same tree
    /// instance; after a root change old coordinates mean nothing).
    fn set_coords(&mut self, now: Instant, grace: Duration, c: Coords, keep_prev: bool) {
        if !keep_prev {
            self.prev = None;
        }
        if keep_prev && self.placed && self.coords != c {
            self.prev = Some(self.coords);
            self.prev_until = now.add(grace);
        }
        self.coords = c;
        self.placed = true;
    }
    /// Whether `c` is this node's current or (within grace) previous position.
    pub(crate) fn holds(&self, now: Instant, c: &Coords) -> bool {
        (self.placed && self.coords == *c) || self.prev_valid(now).is_some_and(|p| p == *c)
    }
    pub(crate) fn prev_valid(&self, now: Instant) -> Option<Coords> {
        self.prev.filter(|_| now < self.prev_until)
    }
}

/// A leased address: coordinates below ours handed to a device that does not join the trees.
#[derive(Debug, Clone, Copy)]
pub struct Lease<const K: usize> {
    /// The device.
    pub node: NodeId,
    /// Its child index under us in each tree (`None` where we are not placed).
    pub index: [Option<u16>; K],
    /// When the lease ends unless renewed.
    pub until: Instant,
}

/// Counters of the router's activity (for figures and debugging).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tree messages queued.
    pub messages: u32,
    /// Tree messages dropped because the queue was full.
    pub queue_drops: u32,
    /// Times this node changed parent (all trees).
    pub reparents: u32,
    /// Times this node's coordinates changed (all trees).
    pub renumbers: u32,
    /// Roots declared dead.
    pub root_losses: u32,
    /// Times this node became a root.
    pub claims: u32,
    /// Join requests sent, by reason: [a better root, a stalled heartbeat (§4.3), repair of a
    /// lost or detached parent, a shorter path (§4.4)].
    pub joins: [u32; 4],
}

/// Index into [`Stats::joins`]: why a node asked to join a parent.
pub mod join_reason {
    /// A better (or the first, or a new) root.
    pub const ROOT: usize = 0;
    /// The parent's heartbeat stalled (`routing.md` §4.3).
    pub const STALL: usize = 1;
    /// The parent was lost or advertises detached.
    pub const REPAIR: usize = 2;
    /// A strictly shorter path, after the re-parent hold.
    pub const SHORTER: usize = 3;
}

/// The spanning-tree state machine of one node: `K` trees at most, `N` neighbours, `L` leases.
#[derive(Debug, Clone)]
pub struct Router<P, const K: usize, const N: usize, const L: usize = 4> {
    pub(crate) cfg: Config,
    policy: P,
    started: Instant,
    pub(crate) trees: [Tree; K],
    pub(crate) nbs: [Option<Neighbour<K>>; N],
    pub(crate) leases: [Option<Lease<K>>; L],
    queue: [Option<(Dest, TreeRepr)>; QUEUE],
    beacon_wanted: bool,
    next_tick: Instant,
    rng: u64,
    stats: Stats,
}

impl<P: RootPolicy, const K: usize, const N: usize, const L: usize> Router<P, K, N, L> {
    /// A router that starts at `now`, not yet in any tree.
    pub fn new(cfg: Config, policy: P, now: Instant) -> Self {
        let mut cfg = cfg;
        cfg.trees = cfg.trees.clamp(1, K.min(8) as u8);
        Self {
            cfg,
            policy,
            started: now,
            trees: [Tree::default(); K],
            nbs: [None; N],
            leases: [None; L],
            queue: [None; QUEUE],
            beacon_wanted: false,
            next_tick: now,
            rng: mix64(cfg.seed),
            stats: Stats::default(),
        }
    }

    // ----- push ---------------------------------------------------------------------------

    /// A beacon from neighbour `nb` (node `node`, link quality 0..255) with its tree entries.
    pub fn on_beacon(
        &mut self,
        now: Instant,
        nb: NeighbourId,
        node: NodeId,
        quality: u8,
        entries: &[TreeEntry],
    ) {
        let Some(slot) = self.slot_or_insert(nb, node, quality) else {
            return;
        };
        let grace = self.cfg.grace;
        if let Some(n) = self.nbs[slot].as_mut() {
            n.node = node;
            n.last_heard = now;
            n.quality = quality;
            for (t, nt) in n.trees.iter_mut().enumerate() {
                match entries.get(t) {
                    Some(e) => {
                        if nt.has && nt.coords != e.coords {
                            nt.prev = Some(nt.coords);
                            nt.prev_until = now.add(grace);
                        }
                        nt.has = true;
                        nt.root = e.root;
                        nt.epoch = e.epoch;
                        nt.dist = e.root_distance;
                        nt.coords = e.coords;
                    }
                    None => nt.has = false,
                }
            }
        }
        for t in 0..self.tree_count() {
            self.check_child(now, t, slot);
            if self.trees[t].parent == Some(nb) {
                self.follow_parent(now, t, slot);
            }
            self.evaluate(now, t);
        }
    }

    /// A tree message from neighbour `from`.
    pub fn on_tree_message(&mut self, now: Instant, from: NeighbourId, msg: &TreeRepr) {
        let t = usize::from(msg.tree);
        if t >= self.tree_count() {
            return;
        }
        let Address::Coords(addr) = msg.address else {
            return;
        };
        let slot = self.slot(from);
        match msg.op {
            Op::JoinRequest => match slot.or_else(|| self.make_room(from, msg.subject)) {
                Some(slot) => self.on_join(now, t, slot, msg.subject),
                None => {
                    // Table full of parents and children: refuse, so the requester looks
                    // elsewhere.
                    let refuse = self.msg(Op::Leave, t, msg.subject, self.trees[t].coords);
                    self.push(Dest::Neighbour(from), refuse);
                }
            },
            Op::Assign => {
                if let Some(slot) = slot {
                    self.on_assign(now, t, slot, msg, addr);
                }
            }
            Op::Leave => self.on_leave(now, t, from, msg.subject),
            Op::Claim => {
                // A fresh root announces itself: treat it as a beacon entry of that neighbour.
                if let Some(n) = slot.and_then(|s| self.nbs[s].as_mut()) {
                    let nt = &mut n.trees[t];
                    nt.has = true;
                    nt.root = msg.subject.short();
                    nt.epoch = msg.epoch;
                    nt.dist = 0;
                    nt.coords = addr;
                    self.evaluate(now, t);
                }
            }
            Op::LeaseRequest => {
                let _ = self.grant_lease(now, from, msg.subject, self.cfg.lease_time);
            }
            Op::LeaseGrant => {}
        }
    }

    /// The core lost neighbour `nb` (link down, or its own liveness timeout).
    pub fn on_neighbour_lost(&mut self, now: Instant, nb: NeighbourId) {
        if let Some(slot) = self.slot(nb) {
            self.remove(now, slot);
        }
    }

    /// The root policy (to admit roots as their claims are verified).
    pub fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    /// The root policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The root this node lost in tree `t` (root timeout) and has not replaced yet.
    pub fn lost_root(&self, t: usize) -> Option<ShortId> {
        self.trees.get(t).and_then(|tree| tree.dead).map(|d| d.0)
    }

    /// Whether this node may be a root (e.g. only with the *root-eligible* role).
    pub fn set_root_candidate(&mut self, yes: bool) {
        self.cfg.root_candidate = yes;
    }

    /// Traffic other than a beacon was heard from neighbour `nb` (an authenticated frame): it
    /// is alive, whatever became of its last beacons. Unknown handles are ignored.
    pub fn heard(&mut self, now: Instant, nb: NeighbourId) {
        if let Some(n) = self.slot(nb).and_then(|s| self.nbs[s].as_mut()) {
            n.last_heard = now;
        }
    }

    /// Advance timers: neighbour expiry, epoch refresh at the root, root loss, claims,
    /// hysteresis. Call at [`Router::poll_timeout`] or more often.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.next_tick = now.add(Duration(self.cfg.beacon_interval.0 / 2));
        let lost_after = self
            .cfg
            .beacon_interval
            .times(u64::from(self.cfg.lost_after));
        for slot in 0..N {
            if self.nbs[slot]
                .as_ref()
                .is_some_and(|n| now.since(n.last_heard) > lost_after)
            {
                self.remove(now, slot);
            }
        }
        for lease in self.leases.iter_mut() {
            if lease.is_some_and(|l| now >= l.until) {
                *lease = None;
            }
        }
        for t in 0..self.tree_count() {
            self.tick_tree(now, t);
        }
    }

    /// Hand a leased address to `node` (reached through neighbour handle `via`) for `span`;
    /// queues one lease grant per tree where this node is placed. `None` if the table is full.
    pub fn grant_lease(
        &mut self,
        now: Instant,
        via: NeighbourId,
        node: NodeId,
        span: Duration,
    ) -> Option<usize> {
        let i = match self
            .leases
            .iter()
            .position(|l| l.is_some_and(|l| l.node == node))
        {
            Some(i) => i,
            None => self.leases.iter().position(Option::is_none)?,
        };
        let mut lease = self.leases[i].unwrap_or(Lease {
            node,
            index: [None; K],
            until: now,
        });
        lease.until = now.add(span);
        self.leases[i] = Some(lease);
        for t in 0..self.tree_count() {
            if !self.trees[t].placed {
                continue;
            }
            let idx = match lease.index[t] {
                Some(x) => x,
                None => match self.free_index(now, t) {
                    Some(x) => x,
                    None => continue,
                },
            };
            if let Some(l) = self.leases[i].as_mut() {
                l.index[t] = Some(idx);
            }
            if let Ok(c) = self.trees[t].coords.child(idx) {
                let msg = self.msg(Op::LeaseGrant, t, node, c);
                self.push(Dest::Neighbour(via), msg);
            }
        }
        Some(i)
    }

    // ----- pull ---------------------------------------------------------------------------

    /// The next tree message to send.
    #[must_use]
    pub fn poll_message(&mut self) -> Option<(Dest, TreeRepr)> {
        let i = self.queue.iter().position(Option::is_some)?;
        self.queue[i].take()
    }

    /// Whether the router wants a beacon soon (its entries changed); clears the flag.
    #[must_use]
    pub fn take_beacon_request(&mut self) -> bool {
        core::mem::take(&mut self.beacon_wanted)
    }

    /// Own tree entries for the next beacon: one per tree in use, in tree order. A tree where
    /// this node has no position yet is advertised detached with empty coordinates.
    pub fn beacon_entries(&self) -> impl Iterator<Item = TreeEntry> + '_ {
        self.trees[..self.tree_count()].iter().map(|t| TreeEntry {
            root: t.root,
            epoch: t.epoch,
            root_distance: t.advertised_dist(),
            coords: t.coords,
        })
    }

    /// The earliest time [`Router::handle_timeout`] has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Every timer is a multiple of the beacon interval: ticking twice per interval keeps
        // each within half an interval, and the deadline is always in the future of the
        // last call.
        Some(self.next_tick)
    }

    // ----- queries ------------------------------------------------------------------------

    /// Trees in use.
    pub fn tree_count(&self) -> usize {
        usize::from(self.cfg.trees).min(K)
    }

    /// This node's current coordinates in tree `t` (`None` if not placed).
    pub fn coords(&self, t: usize) -> Option<Coords> {
        self.trees.get(t).filter(|s| s.placed).map(|s| s.coords)
    }

    /// This node's previous coordinates in tree `t` while their grace period lasts.
    pub fn previous_coords(&self, now: Instant, t: usize) -> Option<Coords> {
        self.trees.get(t).and_then(|s| s.prev_valid(now))
    }

    /// Whether this node has a live path to the root of tree `t`.
    pub fn is_attached(&self, t: usize) -> bool {
        self.trees.get(t).is_some_and(Tree::attached)
    }

    /// Whether this node is the root of tree `t`.
    pub fn is_root(&self, t: usize) -> bool {
        self.trees.get(t).is_some_and(|s| s.is_root)
    }

    /// The root and epoch of tree `t`.
    pub fn tree_state(&self, t: usize) -> Option<(ShortId, u16)> {
        self.trees
            .get(t)
            .filter(|s| s.placed)
            .map(|s| (s.root, s.epoch))
    }

    /// Whether a routing-header `epoch` for tree `t` belongs to this node's tree instance:
    /// within `window` refreshes of the current epoch, in either direction.
    pub fn epoch_matches(&self, t: usize, epoch: u16, window: u16) -> bool {
        self.trees.get(t).is_some_and(|s| {
            s.placed && {
                let d = s.epoch.wrapping_sub(epoch);
                d <= window || d >= 0u16.wrapping_sub(window)
            }
        })
    }

    /// The parent in tree `t`.
    pub fn parent(&self, t: usize) -> Option<NeighbourId> {
        self.trees.get(t).and_then(|s| s.parent)
    }

    /// The active leases.
    pub fn leases(&self) -> impl Iterator<Item = &Lease<K>> {
        self.leases.iter().flatten()
    }

    /// Activity counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Bytes of live neighbour state in its compact (wire) encoding: per neighbour its node
    /// id and, per tree it offers, a beacon tree entry (root, epoch, distance, coordinates).
    pub fn neighbour_state_bytes(&self) -> usize {
        let k = self.tree_count();
        self.nbs
            .iter()
            .flatten()
            .map(|n| {
                8 + n.trees[..k]
                    .iter()
                    .filter(|t| t.has)
                    .map(|t| {
                        hyphae_wire::beacon::TREE_ENTRY_FIXED_LEN
                            + Address::Coords(t.coords).buffer_len()
                    })
                    .sum::<usize>()
            })
            .sum()
    }

    /// Whether neighbour `nb` is a parent, child or pending parent in some tree (the core
    /// keeps such neighbours in a full peer table).
    pub fn is_structural_neighbour(&self, nb: NeighbourId) -> bool {
        self.slot(nb).is_some_and(|s| self.is_structural(s))
    }

    /// What neighbour `nb` last advertised for tree `t`: root, epoch, coordinates.
    pub fn neighbour_tree(&self, nb: NeighbourId, t: usize) -> Option<(ShortId, u16, Coords)> {
        let n = self.slot(nb).and_then(|s| self.nbs[s].as_ref())?;
        let e = n.trees.get(t)?;
        (e.has && e.dist < DETACHED - 1).then_some((e.root, e.epoch, e.coords))
    }

    /// The neighbour a leaf asks for a leased address: placed in the most trees, then the best
    /// link, then the shortest root distance.
    pub fn lease_candidate(&self) -> Option<NeighbourId> {
        self.nbs
            .iter()
            .flatten()
            .filter(|n| n.quality >= self.cfg.min_quality)
            .map(|n| {
                let placed = n
                    .trees
                    .iter()
                    .take(self.tree_count())
                    .filter(|e| e.has && e.dist < DETACHED - 1)
                    .count();
                let dist = n.trees.first().map_or(u8::MAX, |e| e.dist);
                ((placed, n.quality, u8::MAX - dist), n.id)
            })
            .filter(|((placed, ..), _)| *placed > 0)
            .max_by_key(|(k, _)| *k)
            .map(|(_, id)| id)
    }

    /// Known neighbours.
    pub fn neighbours(&self) -> impl Iterator<Item = (NeighbourId, NodeId)> + '_ {
        self.nbs.iter().flatten().map(|n| (n.id, n.node))
    }

    // ----- internals ----------------------------------------------------------------------

    pub(crate) fn slot(&self, nb: NeighbourId) -> Option<usize> {
        self.nbs
            .iter()
            .position(|n| n.as_ref().is_some_and(|n| n.id == nb))
    }

    fn slot_or_insert(&mut self, nb: NeighbourId, node: NodeId, quality: u8) -> Option<usize> {
        if let Some(s) = self.slot(nb) {
            return Some(s);
        }
        let fresh = Neighbour {
            id: nb,
            node,
            last_heard: Instant(0),
            quality,
            trees: [NbTree::default(); K],
        };
        if let Some(s) = self.nbs.iter().position(Option::is_none) {
            self.nbs[s] = Some(fresh);
            return Some(s);
        }
        // Full: replace the weakest neighbour that is neither parent nor child, if weaker.
        let victim = (0..N)
            .filter(|&s| !self.is_structural(s))
            .min_by_key(|&s| self.nbs[s].as_ref().map_or(0, |n| n.quality))?;
        if self.nbs[victim]
            .as_ref()
            .is_some_and(|n| n.quality >= quality)
        {
            return None;
        }
        self.nbs[victim] = Some(fresh);
        Some(victim)
    }

    /// A would-be child we have no slot for: it replaces the weakest neighbour that is neither
    /// parent, child nor pending (a child needs us more than a mere neighbour).
    fn make_room(&mut self, nb: NeighbourId, node: NodeId) -> Option<usize> {
        let victim = (0..N)
            .filter(|&s| !self.is_structural(s))
            .min_by_key(|&s| self.nbs[s].as_ref().map_or(0, |n| n.quality))?;
        let quality = self.nbs[victim].as_ref().map_or(0, |n| n.quality);
        self.nbs[victim] = Some(Neighbour {
            id: nb,
            node,
            last_heard: self.nbs[victim]
                .as_ref()
                .map_or(Instant(0), |n| n.last_heard),
            quality,
            trees: [NbTree::default(); K],
        });
        Some(victim)
    }

    fn is_structural(&self, slot: usize) -> bool {
        let Some(n) = self.nbs[slot] else {
            return false;
        };
        (0..self.tree_count()).any(|t| {
            self.trees[t].parent == Some(n.id)
                || n.trees[t].child.is_some()
                || self.trees[t].pending.is_some_and(|(p, _)| p == n.id)
        })
    }

    fn remove(&mut self, now: Instant, slot: usize) {
        let Some(n) = self.nbs[slot].take() else {
            return;
        };
        for t in 0..self.tree_count() {
            if let Some(i) = n.trees[t].child {
                self.quarantine(now, t, i);
            }
            if self.trees[t].pending.is_some_and(|(p, _)| p == n.id) {
                self.trees[t].pending = None;
            }
            if self.trees[t].better.is_some_and(|(p, _)| p == n.id) {
                self.trees[t].better = None;
            }
            if self.trees[t].parent == Some(n.id) {
                self.trees[t].parent = None;
                self.beacon_wanted = true;
            }
            self.evaluate(now, t);
        }
    }

    fn next_rand(&mut self) -> u64 {
        self.rng = mix64(self.rng);
        self.rng
    }

    fn push(&mut self, dest: Dest, msg: TreeRepr) {
        self.stats.messages += 1;
        match self.queue.iter().position(Option::is_none) {
            Some(i) => self.queue[i] = Some((dest, msg)),
            None => self.stats.queue_drops += 1,
        }
    }

    fn msg(&self, op: Op, t: usize, subject: NodeId, c: Coords) -> TreeRepr {
        TreeRepr {
            op,
            tree: t as u8,
            epoch: self.trees[t].epoch,
            subject,
            address: Address::Coords(c),
        }
    }

    fn own_rank(&self, t: usize) -> Option<u64> {
        if !self.cfg.root_candidate {
            return None;
        }
        self.policy.rank(t as u8, self.cfg.node.short())
    }

    fn quarantine(&mut self, now: Instant, t: usize, index: u16) {
        let until = now.add(self.cfg.grace);
        let q = &mut self.trees[t].quarantine;
        let i = q
            .iter()
            .position(|e| e.is_none_or(|(_, u)| now >= u))
            .unwrap_or_else(|| {
                // Full: overwrite the entry that expires first.
                (0..QUARANTINE)
                    .min_by_key(|&i| q[i].map_or(Instant(0), |(_, u)| u))
                    .unwrap_or(0)
            });
        q[i] = Some((index, until));
    }

    fn index_used(&self, now: Instant, t: usize, index: u16) -> bool {
        self.nbs
            .iter()
            .flatten()
            .any(|n| n.trees[t].child == Some(index))
            || self
                .leases
                .iter()
                .flatten()
                .any(|l| l.index[t] == Some(index))
            || self.trees[t]
                .quarantine
                .iter()
                .flatten()
                .any(|&(i, u)| i == index && now < u)
    }

    fn free_index(&self, now: Instant, t: usize) -> Option<u16> {
        (0..=hyphae_wire::address::MAX_CHILD_INDEX).find(|&i| !self.index_used(now, t, i))
    }
}

mod maintain;
#[cfg(test)]
mod tests;
