//! Graph harness (std, test/example only): random geometric and Barabási–Albert graphs, one
//! `Router` per node driven by message passing, greedy delivery and stretch against BFS.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::collections::VecDeque;

use hyphae_routing::router::{Config, Dest, OpenPolicy, Router};
use hyphae_routing::{Coords, Decision, Duration, Forwarder, Instant, Metric, NeighbourId, NodeId};

/// Trees built (routing then uses the first t of them).
pub const K: usize = 5;
/// Neighbour capacity per node.
pub const NB: usize = 64;
pub type R = Router<OpenPolicy, K, NB, 1>;

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub struct Graph {
    pub adj: Vec<Vec<u32>>,
}

impl Graph {
    pub fn edges(&self) -> usize {
        self.adj.iter().map(Vec::len).sum::<usize>() / 2
    }
    pub fn mean_degree(&self) -> f64 {
        2.0 * self.edges() as f64 / self.adj.len() as f64
    }
    /// Keep the largest connected component, renumbered.
    fn giant(adj: Vec<Vec<u32>>) -> Self {
        let n = adj.len();
        let mut comp = vec![usize::MAX; n];
        let mut best = (0, 0);
        for s in 0..n {
            if comp[s] != usize::MAX {
                continue;
            }
            let mut q = VecDeque::from([s]);
            comp[s] = s;
            let mut size = 0;
            while let Some(u) = q.pop_front() {
                size += 1;
                for &v in &adj[u] {
                    if comp[v as usize] == usize::MAX {
                        comp[v as usize] = s;
                        q.push_back(v as usize);
                    }
                }
            }
            if size > best.1 {
                best = (s, size);
            }
        }
        let mut map = vec![u32::MAX; n];
        let mut k = 0;
        for u in 0..n {
            if comp[u] == best.0 {
                map[u] = k;
                k += 1;
            }
        }
        let mut out = vec![Vec::new(); k as usize];
        for u in 0..n {
            if map[u] != u32::MAX {
                out[map[u] as usize] = adj[u].iter().map(|&v| map[v as usize]).collect();
            }
        }
        Self { adj: out }
    }
}

/// Unit-disk graph in the unit square with radius for the target mean degree; giant component.
pub fn rgg(n: usize, degree: f64, seed: u64) -> Graph {
    let mut rng = Rng(seed);
    let pts: Vec<(f64, f64)> = (0..n).map(|_| (rng.f64(), rng.f64())).collect();
    let r = (degree / (std::f64::consts::PI * n as f64)).sqrt();
    let cells = (1.0 / r).floor().max(1.0) as usize;
    let cell = |p: (f64, f64)| {
        (
            ((p.0 * cells as f64) as usize).min(cells - 1),
            ((p.1 * cells as f64) as usize).min(cells - 1),
        )
    };
    let mut grid = vec![Vec::new(); cells * cells];
    for (i, &p) in pts.iter().enumerate() {
        let (x, y) = cell(p);
        grid[y * cells + x].push(i);
    }
    let mut adj = vec![Vec::new(); n];
    for (i, &p) in pts.iter().enumerate() {
        let (x, y) = cell(p);
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                let (cx, cy) = (x as i64 + dx, y as i64 + dy);
                if cx < 0 || cy < 0 || cx >= cells as i64 || cy >= cells as i64 {
                    continue;
                }
                for &j in &grid[cy as usize * cells + cx as usize] {
                    let q: (f64, f64) = pts[j];
                    if j != i && (p.0 - q.0).powi(2) + (p.1 - q.1).powi(2) <= r * r {
                        adj[i].push(j as u32);
                    }
                }
            }
        }
    }
    Graph::giant(adj)
}

/// Barabási–Albert preferential attachment with `m` edges per new node.
pub fn ba(n: usize, m: usize, seed: u64) -> Graph {
    let mut rng = Rng(seed);
    let mut adj = vec![Vec::new(); n];
    let mut ends: Vec<u32> = Vec::new();
    for u in 0..=m {
        for v in 0..u {
            adj[u].push(v as u32);
            adj[v].push(u as u32);
            ends.extend([u as u32, v as u32]);
        }
    }
    for u in m + 1..n {
        let mut chosen: Vec<u32> = Vec::new();
        while chosen.len() < m {
            let v = ends[rng.below(ends.len())];
            if !chosen.contains(&v) {
                chosen.push(v);
            }
        }
        for v in chosen {
            adj[u].push(v);
            adj[v as usize].push(u as u32);
            ends.extend([u as u32, v]);
        }
    }
    Graph::giant(adj)
}

/// BFS hop counts from `s` over alive nodes.
pub fn bfs(g: &Graph, s: usize, alive: &[bool]) -> Vec<u32> {
    let mut d = vec![u32::MAX; g.adj.len()];
    d[s] = 0;
    let mut q = VecDeque::from([s]);
    while let Some(u) = q.pop_front() {
        for &v in &g.adj[u] {
            let v = v as usize;
            if alive[v] && d[v] == u32::MAX {
                d[v] = d[u] + 1;
                q.push_back(v);
            }
        }
    }
    d
}

pub fn node_id(i: usize) -> NodeId {
    NodeId(Rng(i as u64 ^ 0x5eed).next().to_le_bytes())
}

/// One router per node; rounds of one beacon interval each.
pub struct Net {
    pub g: Graph,
    pub routers: Vec<R>,
    pub fwd: Vec<Forwarder<16>>,
    pub alive: Vec<bool>,
    pub now: Instant,
    pub interval: Duration,
    pub rng: Rng,
    /// Tree messages delivered (control overhead besides beacons).
    pub tree_msgs: u64,
    pub policy: OpenPolicy,
}

impl Net {
    pub fn new(g: Graph, trees: u8, seed: u64) -> Self {
        let interval = Duration::from_secs(1);
        let now = Instant(0);
        let routers = (0..g.adj.len())
            .map(|i| {
                let mut cfg = Config::new(node_id(i), interval);
                cfg.trees = trees;
                Router::new(cfg, OpenPolicy { key: seed }, now)
            })
            .collect();
        let n = g.adj.len();
        Self {
            g,
            routers,
            fwd: (0..n).map(|_| Forwarder::new()).collect(),
            alive: vec![true; n],
            now,
            interval,
            rng: Rng(seed ^ 0xabcdef),
            tree_msgs: 0,
            policy: OpenPolicy { key: seed },
        }
    }

    /// A copy of the network state (routers cloned) for what-if measurements.
    pub fn snapshot_of(other: &Self) -> Self {
        Self {
            g: Graph {
                adj: other.g.adj.clone(),
            },
            routers: other.routers.clone(),
            fwd: (0..other.routers.len()).map(|_| Forwarder::new()).collect(),
            alive: other.alive.clone(),
            now: other.now,
            interval: other.interval,
            rng: Rng(other.rng.0 ^ 1),
            tree_msgs: 0,
            policy: other.policy,
        }
    }

    fn drain(&mut self) {
        for _ in 0..64 {
            let mut any = false;
            for u in 0..self.routers.len() {
                if !self.alive[u] {
                    while self.routers[u].poll_message().is_some() {}
                    continue;
                }
                while let Some((dest, msg)) = self.routers[u].poll_message() {
                    any = true;
                    match dest {
                        Dest::Neighbour(v) => {
                            let v = usize::from(v.0);
                            if self.alive[v] && self.g.adj[u].contains(&(v as u32)) {
                                self.tree_msgs += 1;
                                self.routers[v].on_tree_message(
                                    self.now,
                                    NeighbourId(u as u16),
                                    &msg,
                                );
                            }
                        }
                        Dest::Broadcast => {
                            self.tree_msgs += 1;
                            for i in 0..self.g.adj[u].len() {
                                let v = self.g.adj[u][i] as usize;
                                if self.alive[v] {
                                    self.routers[v].on_tree_message(
                                        self.now,
                                        NeighbourId(u as u16),
                                        &msg,
                                    );
                                }
                            }
                        }
                    }
                }
            }
            if !any {
                return;
            }
        }
    }

    /// One beacon interval: timers, then every alive node beacons once in random order.
    pub fn round(&mut self) {
        self.now = self.now.add(self.interval);
        let n = self.routers.len();
        let mut order: Vec<usize> = (0..n).filter(|&u| self.alive[u]).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.below(i + 1);
            order.swap(i, j);
        }
        for &u in &order {
            self.routers[u].handle_timeout(self.now);
        }
        self.drain();
        for &u in &order {
            let entries: Vec<_> = self.routers[u].beacon_entries().collect();
            let _ = self.routers[u].take_beacon_request();
            for i in 0..self.g.adj[u].len() {
                let v = self.g.adj[u][i] as usize;
                if self.alive[v] {
                    self.routers[v].on_beacon(
                        self.now,
                        NeighbourId(u as u16),
                        node_id(u),
                        200,
                        &entries,
                    );
                }
            }
            self.drain();
        }
    }

    /// Every alive node of the giant alive component is attached in every tree with one root
    /// per tree.
    pub fn converged(&self) -> bool {
        let comp = self.component();
        let trees = self.routers[0].tree_count();
        (0..trees).all(|t| {
            let mut root = None;
            if !comp.iter().any(|&u| self.routers[u].is_root(t)) {
                return false;
            }
            comp.iter().all(|&u| {
                let r = &self.routers[u];
                let s = r.tree_state(t);
                r.is_attached(t)
                    && s.is_some()
                    && match root {
                        None => {
                            root = s.map(|x| x.0);
                            true
                        }
                        Some(x) => s.map(|y| y.0) == Some(x),
                    }
            })
        })
    }

    /// Alive nodes of the largest alive component.
    pub fn component(&self) -> Vec<usize> {
        let n = self.routers.len();
        let mut seen = vec![false; n];
        let mut best: Vec<usize> = Vec::new();
        for s in 0..n {
            if !self.alive[s] || seen[s] {
                continue;
            }
            let d = bfs(&self.g, s, &self.alive);
            let c: Vec<usize> = (0..n).filter(|&v| d[v] != u32::MAX).collect();
            for &v in &c {
                seen[v] = true;
            }
            if c.len() > best.len() {
                best = c;
            }
        }
        best
    }

    /// Run rounds until converged (or `max`); returns rounds used.
    pub fn converge(&mut self, max: usize) -> Option<usize> {
        let mut quiet = 0;
        let mut last = self.renumbers();
        for r in 1..=max {
            self.round();
            let now = self.renumbers();
            quiet = if now == last { quiet + 1 } else { 0 };
            last = now;
            if quiet >= 3 && self.converged() {
                return Some(r);
            }
        }
        None
    }

    /// Rounds until every alive node of the giant component is attached under one root per
    /// tree with consistent coordinates (`max` at most).
    pub fn repair(&mut self, max: usize) -> Option<usize> {
        for r in 1..=max {
            self.round();
            if self.converged() && self.consistent() {
                return Some(r);
            }
        }
        None
    }

    pub fn renumbers(&self) -> u64 {
        self.routers
            .iter()
            .map(|r| u64::from(r.stats().renumbers + r.stats().reparents))
            .sum()
    }

    /// Every attached node's coordinates extend its parent's by one level.
    pub fn consistent(&self) -> bool {
        let trees = self.routers[0].tree_count();
        self.component().iter().all(|&u| {
            (0..trees).all(
                |t| match (self.routers[u].coords(t), self.routers[u].parent(t)) {
                    (Some(c), Some(p)) => {
                        self.alive[usize::from(p.0)]
                            && self.routers[usize::from(p.0)].coords(t) == c.parent()
                    }
                    (Some(c), None) => c.depth() == 0,
                    _ => false,
                },
            )
        })
    }

    /// Crash nodes: they stop beaconing and answering; neighbours notice through timeouts.
    pub fn crash(&mut self, fraction: f64) -> Vec<usize> {
        let n = self.routers.len();
        let mut out = Vec::new();
        for u in 0..n {
            if self.rng.f64() < fraction {
                self.alive[u] = false;
                out.push(u);
            }
        }
        out
    }

    /// Tell the neighbours of dead nodes at once (the static failure model of ROUTING.md §2.8).
    pub fn notify_dead(&mut self) {
        let now = self.now;
        for u in 0..self.routers.len() {
            if self.alive[u] {
                continue;
            }
            for i in 0..self.g.adj[u].len() {
                let v = self.g.adj[u][i] as usize;
                self.routers[v].on_neighbour_lost(now, NeighbourId(u as u16));
            }
        }
    }

    /// Destination coordinates in the first `trees` trees.
    pub fn dest(&self, d: usize, trees: usize) -> Vec<Option<Coords>> {
        (0..K)
            .map(|t| {
                if t < trees {
                    self.routers[d].coords(t)
                } else {
                    None
                }
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    /// Walk one frame from `s` toward `dest`; returns hops (forward and back) if it reaches `d`.
    pub fn walk(
        &mut self,
        s: usize,
        d: usize,
        tree: usize,
        dest: &[Option<Coords>],
        metric: Metric,
        backtrack: bool,
        limit: u32,
    ) -> Option<u32> {
        let key = self.rng.next() as u32;
        let (mut cur, mut from, mut bounced, mut hops, mut tree) =
            (s, None, false, 0u32, tree as u8);
        let mut dest = dest.to_vec();
        loop {
            if hops > limit {
                return None;
            }
            let dec = if backtrack {
                self.fwd[cur].route(
                    &self.routers[cur],
                    self.now,
                    key,
                    from.map(|f: usize| NeighbourId(f as u16)),
                    bounced,
                    tree,
                    &dest,
                    metric,
                )
            } else {
                let ex: Vec<NeighbourId> = from.iter().map(|&f| NeighbourId(f as u16)).collect();
                self.routers[cur].next_hop(self.now, usize::from(tree), &dest, metric, &ex)
            };
            match dec {
                Decision::Deliver => return (cur == d).then_some(hops),
                Decision::Proxy(_) => return None,
                Decision::Forward {
                    neighbour,
                    tree: t,
                    coords,
                } => {
                    let v = usize::from(neighbour.0);
                    hops += 1;
                    if !self.alive[v] {
                        // The link layer gets no ack: treat it as bounced straight back.
                        bounced = true;
                        from = Some(v);
                        if !backtrack {
                            return None;
                        }
                        continue;
                    }
                    dest[usize::from(t)] = Some(coords);
                    tree = t;
                    from = Some(cur);
                    cur = v;
                    bounced = false;
                }
                Decision::Backtrack(p) => {
                    hops += 1;
                    from = Some(cur);
                    cur = usize::from(p.0);
                    bounced = true;
                }
                Decision::Unreachable => return None,
            }
        }
    }
}

/// How a frame uses the trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ROUTING.md's definition: one copy per tree in parallel, the shortest successful copy.
    Parallel,
    /// The source picks the tree with the smallest tree distance; the header carries that tree
    /// only (intermediate nodes know nothing else).
    SourceTree,
    /// Every hop knows the destination in all trees and minimises over them.
    AllTrees,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    pub pairs: usize,
    pub delivered: usize,
    pub sp_hops: u64,
    pub hops: u64,
    pub transmissions: u64,
    pub over_31: usize,
}

impl Figures {
    pub fn delivery(&self) -> f64 {
        self.delivered as f64 / self.pairs.max(1) as f64
    }
    /// Mean routed hops over mean shortest hops, on delivered pairs (ROUTING.md's stretch).
    pub fn stretch(&self) -> f64 {
        self.hops as f64 / self.sp_hops.max(1) as f64
    }
}

/// Route `pairs` random pairs of the giant alive component.
pub fn measure(
    net: &mut Net,
    pairs: usize,
    trees: usize,
    mode: Mode,
    metric: Metric,
    backtrack: bool,
    seed: u64,
) -> Figures {
    let comp = net.component();
    let mut rng = Rng(seed);
    let mut f = Figures::default();
    let limit = 255;
    for _ in 0..pairs {
        let s = comp[rng.below(comp.len())];
        let mut d = comp[rng.below(comp.len())];
        while d == s {
            d = comp[rng.below(comp.len())];
        }
        let sp = bfs(&net.g, s, &net.alive)[d];
        f.pairs += 1;
        let result = match mode {
            Mode::AllTrees => {
                let dest = net.dest(d, trees);
                let t = best_tree(net, s, &dest, trees);
                net.walk(s, d, t, &dest, metric, backtrack, limit)
                    .map(|h| (h, h))
            }
            Mode::SourceTree => {
                let all = net.dest(d, trees);
                let t = best_tree(net, s, &all, trees);
                let mut dest = vec![None; K];
                dest[t] = all[t];
                net.walk(s, d, t, &dest, metric, backtrack, limit)
                    .map(|h| (h, h))
            }
            Mode::Parallel => {
                let all = net.dest(d, trees);
                let mut best: Option<u32> = None;
                let mut cost = 0;
                for t in 0..trees {
                    let mut dest = vec![None; K];
                    dest[t] = all[t];
                    match net.walk(s, d, t, &dest, metric, backtrack, limit) {
                        Some(h) => {
                            cost += h;
                            best = Some(best.map_or(h, |b| b.min(h)));
                        }
                        None => cost += 2 * sp,
                    }
                }
                best.map(|b| (b, cost))
            }
        };
        if let Some((h, cost)) = result {
            f.delivered += 1;
            f.hops += u64::from(h);
            f.sp_hops += u64::from(sp);
            f.transmissions += u64::from(cost);
            if h > 31 {
                f.over_31 += 1;
            }
        }
    }
    f
}

fn best_tree(net: &Net, s: usize, dest: &[Option<Coords>], trees: usize) -> usize {
    (0..trees)
        .filter_map(|t| {
            let d = dest[t]?;
            let c = net.routers[s].coords(t)?;
            Some((hyphae_routing::metric::tree_distance(&c, &d), t))
        })
        .min()
        .map_or(0, |x| x.1)
}

/// Mean and max depth in tree `t` over the giant component.
pub fn depth(net: &Net, t: usize) -> (f64, usize) {
    let comp = net.component();
    let ds: Vec<usize> = comp
        .iter()
        .filter_map(|&u| net.routers[u].coords(t).map(|c| c.depth()))
        .collect();
    (
        ds.iter().sum::<usize>() as f64 / ds.len().max(1) as f64,
        ds.iter().copied().max().unwrap_or(0),
    )
}

/// Diagnostics for one tree: (attached, roots, distinct root ids, duplicate coords, parent-coords mismatches).
pub fn diagnose(net: &Net, t: usize) -> String {
    use std::collections::{HashMap, HashSet};
    let comp = net.component();
    let attached = comp
        .iter()
        .filter(|&&u| net.routers[u].is_attached(t))
        .count();
    let roots = comp.iter().filter(|&&u| net.routers[u].is_root(t)).count();
    let ids: HashSet<_> = comp
        .iter()
        .filter_map(|&u| net.routers[u].tree_state(t).map(|s| s.0))
        .collect();
    let mut seen = HashMap::new();
    let mut dups = 0;
    let mut mism = 0;
    for &u in &comp {
        if let Some(c) = net.routers[u].coords(t) {
            if seen.insert(c, u).is_some() {
                dups += 1;
            }
            if let Some(p) = net.routers[u].parent(t) {
                let pc = net.routers[usize::from(p.0)].coords(t);
                if pc != c.parent() {
                    mism += 1;
                    if mism < 3 {
                        let pe: Vec<_> = net.routers[usize::from(p.0)].beacon_entries().collect();
                        let ue: Vec<_> = net.routers[u].beacon_entries().collect();
                        eprintln!(
                            "node {u} {c} entry {:?} parent {} {pc:?} entry {:?} pparent {:?}",
                            ue[t],
                            p.0,
                            pe[t],
                            net.routers[usize::from(p.0)].parent(t)
                        );
                    }
                }
            }
        }
    }
    for &u in comp.iter().filter(|&&u| net.routers[u].is_root(t)) {
        use hyphae_routing::RootPolicy;
        let sid = net.routers[u].tree_state(t).map(|x| x.0);
        let members = comp
            .iter()
            .filter(|&&v| net.routers[v].tree_state(t).map(|x| x.0) == sid)
            .count();
        let rank = sid.and_then(|s| net.policy.rank(t as u8, s));
        let nbs: Vec<_> = net.g.adj[u]
            .iter()
            .filter(|&&v| net.alive[v as usize])
            .map(|&v| {
                let e: Vec<_> = net.routers[v as usize].beacon_entries().collect();
                (v, e[t].root, e[t].root_distance, e[t].epoch)
            })
            .take(4)
            .collect();
        eprintln!(
            "root {u} tree {t} rank {rank:?} members {members} stats {:?} nbs {nbs:?} own {:?}",
            net.routers[u].stats(),
            net.routers[u].beacon_entries().nth(t)
        );
    }
    let root = comp.iter().copied().find(|&u| net.routers[u].is_root(t));
    let excess = root.map_or(0.0, |r| {
        let d = bfs(&net.g, r, &net.alive);
        comp.iter()
            .filter_map(|&u| {
                net.routers[u]
                    .coords(t)
                    .map(|c| c.depth() as f64 - f64::from(d[u]))
            })
            .sum::<f64>()
            / comp.len() as f64
    });
    format!(
        "tree {t}: depth excess over BFS {excess:.3}; comp {} attached {attached} roots {roots} root ids {} dup coords {dups} parent mismatch {mism}",
        comp.len(),
        ids.len()
    )
}

/// Flood one gossip message from `src` with the per-node engines; returns (coverage of the
/// alive giant component, transmissions).
pub fn gossip_flood(net: &Net, src: usize, hops: u8) -> (f64, usize) {
    use hyphae_routing::gossip::Gossip;
    let n = net.g.adj.len();
    let mut engines: Vec<Gossip<8, 1>> = (0..n)
        .map(|i| Gossip::new(node_id(i).short(), 200))
        .collect();
    for e in engines.iter_mut() {
        e.subscribe(1);
    }
    engines[src].hop_limit = hops;
    let now = Instant(0);
    let Ok(msg) = engines[src].publish(now, 1, b"position") else {
        return (0.0, 0);
    };
    let mut got = vec![false; n];
    got[src] = true;
    let mut tx = 1;
    let mut queue = VecDeque::from([(src, msg.hops_left)]);
    while let Some((u, hops_left)) = queue.pop_front() {
        for &v in &net.g.adj[u] {
            let v = v as usize;
            if !net.alive[v] {
                continue;
            }
            let mut m = msg;
            m.hops_left = hops_left;
            let r = engines[v].on_gossip(now, NeighbourId(u as u16), &m);
            if r.deliver {
                got[v] = true;
            }
            if let Some(h) = r.forward {
                tx += 1;
                queue.push_back((v, h));
            }
        }
    }
    let comp = net.component();
    (
        comp.iter().filter(|&&u| got[u]).count() as f64 / comp.len() as f64,
        tx,
    )
}
