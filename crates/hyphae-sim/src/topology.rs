//! Topologies: line, grid, random geometric, Barabási–Albert, and edge-list files.
//!
//! A [`Graph`] is undirected, simple and indexed `0..n`. Geometric generators also give node
//! positions in metres (the radio's nominal range apart at most), which the path-loss range
//! model and the topology plot use.

use std::collections::VecDeque;
use std::fmt;

use crate::rng::Rng;

/// An undirected simple graph over nodes `0..n`.
#[derive(Debug, Clone)]
pub struct Graph {
    adj: Vec<Vec<u32>>,
    /// Node positions in metres, for geometric topologies.
    pub positions: Option<Vec<(f64, f64)>>,
}

/// Why a topology could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologyError {
    /// Fewer than two nodes asked for.
    TooSmall,
    /// Barabási–Albert `m` must be at least 1 and below the node count.
    BadAttachment,
    /// Mean degree must be positive and below the node count.
    BadDegree,
    /// The edge-list file could not be read.
    Io(String),
    /// A line of the edge-list file is not `a b` (1-based line number).
    BadLine(usize),
    /// More than [`MAX_NODES`] nodes.
    TooLarge,
}

/// Largest graph the simulator builds.
pub const MAX_NODES: usize = 1 << 20;

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooSmall => f.write_str("a topology needs at least 2 nodes"),
            Self::BadAttachment => f.write_str("Barabási–Albert m must be in 1..nodes"),
            Self::BadDegree => f.write_str("mean degree must be in (0, nodes)"),
            Self::Io(e) => write!(f, "edge-list file: {e}"),
            Self::BadLine(l) => write!(f, "edge-list file line {l}: expected `a b` node indices"),
            Self::TooLarge => write!(f, "more than {MAX_NODES} nodes"),
        }
    }
}

impl std::error::Error for TopologyError {}

impl Graph {
    /// `n` nodes and no edges.
    pub fn empty(n: usize) -> Self {
        Self {
            adj: vec![Vec::new(); n],
            positions: None,
        }
    }

    /// Add the edge `a – b` (ignored when it is a loop or already present).
    pub fn add_edge(&mut self, a: usize, b: usize) {
        if a == b || a >= self.adj.len() || b >= self.adj.len() {
            return;
        }
        if self.adj[a].contains(&(b as u32)) {
            return;
        }
        self.adj[a].push(b as u32);
        self.adj[b].push(a as u32);
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.adj.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.adj.is_empty()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.adj.iter().map(Vec::len).sum::<usize>() / 2
    }

    /// Neighbours of `i`.
    pub fn neighbours(&self, i: usize) -> &[u32] {
        &self.adj[i]
    }

    /// Mean degree.
    pub fn mean_degree(&self) -> f64 {
        if self.adj.is_empty() {
            return 0.0;
        }
        2.0 * self.edge_count() as f64 / self.adj.len() as f64
    }

    /// Every edge once, as `(a, b)` with `a < b`, in index order.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.adj.iter().enumerate().flat_map(|(a, ns)| {
            ns.iter()
                .map(move |&b| (a, b as usize))
                .filter(|(a, b)| a < b)
        })
    }

    /// A line of `n` nodes `spacing` metres apart.
    pub fn line(n: usize, spacing: f64) -> Result<Self, TopologyError> {
        check_n(n)?;
        let mut g = Self::empty(n);
        for i in 1..n {
            g.add_edge(i - 1, i);
        }
        g.positions = Some((0..n).map(|i| (i as f64 * spacing, 0.0)).collect());
        Ok(g)
    }

    /// A square-ish grid of `n` nodes `spacing` metres apart, 4-neighbour connectivity.
    pub fn grid(n: usize, spacing: f64) -> Result<Self, TopologyError> {
        check_n(n)?;
        let side = (n as f64).sqrt().ceil() as usize;
        let mut g = Self::empty(n);
        for i in 0..n {
            let (x, y) = (i % side, i / side);
            if x + 1 < side && i + 1 < n {
                g.add_edge(i, i + 1);
            }
            if y + 1 < side.max(1) && i + side < n {
                g.add_edge(i, i + side);
            }
        }
        g.positions = Some(
            (0..n)
                .map(|i| ((i % side) as f64 * spacing, (i / side) as f64 * spacing))
                .collect(),
        );
        Ok(g)
    }

    /// A random geometric graph: `n` nodes uniform in a square sized so that a unit disk of
    /// radius `range` metres gives `degree` neighbours on average; only the largest connected
    /// component is kept (so the result may have fewer than `n` nodes).
    pub fn rgg(n: usize, degree: f64, range: f64, rng: &mut Rng) -> Result<Self, TopologyError> {
        check_n(n)?;
        if !(degree > 0.0 && degree < n as f64) {
            return Err(TopologyError::BadDegree);
        }
        let side = range * (core::f64::consts::PI * n as f64 / degree).sqrt();
        let pos: Vec<(f64, f64)> = (0..n)
            .map(|_| (rng.f64() * side, rng.f64() * side))
            .collect();
        // Spatial hash: cells one range wide, so neighbours are in the 3 × 3 block.
        let cells = ((side / range).ceil() as usize).max(1);
        let cell = |p: (f64, f64)| {
            let cx = ((p.0 / range) as usize).min(cells - 1);
            let cy = ((p.1 / range) as usize).min(cells - 1);
            (cx, cy)
        };
        let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); cells * cells];
        for (i, &p) in pos.iter().enumerate() {
            let (cx, cy) = cell(p);
            buckets[cy * cells + cx].push(i as u32);
        }
        let mut g = Self::empty(n);
        let r2 = range * range;
        for (i, &p) in pos.iter().enumerate() {
            let (cx, cy) = cell(p);
            for dy in cy.saturating_sub(1)..=(cy + 1).min(cells - 1) {
                for dx in cx.saturating_sub(1)..=(cx + 1).min(cells - 1) {
                    for &j in &buckets[dy * cells + dx] {
                        let j = j as usize;
                        if j <= i {
                            continue;
                        }
                        let (ddx, ddy) = (pos[j].0 - p.0, pos[j].1 - p.1);
                        if ddx * ddx + ddy * ddy <= r2 {
                            g.add_edge(i, j);
                        }
                    }
                }
            }
        }
        g.positions = Some(pos);
        Ok(g.largest_component())
    }

    /// A Barabási–Albert graph: starts from a clique of `m + 1` nodes; each further node
    /// attaches to `m` distinct existing nodes chosen with probability proportional to degree.
    pub fn barabasi_albert(n: usize, m: usize, rng: &mut Rng) -> Result<Self, TopologyError> {
        check_n(n)?;
        if m == 0 || m >= n {
            return Err(TopologyError::BadAttachment);
        }
        let mut g = Self::empty(n);
        // Every edge end once: sampling from it is sampling proportional to degree.
        let mut ends: Vec<u32> = Vec::with_capacity(2 * n * m);
        for a in 0..=m.min(n - 1) {
            for b in 0..a {
                g.add_edge(a, b);
                ends.push(a as u32);
                ends.push(b as u32);
            }
        }
        let mut chosen: Vec<usize> = Vec::with_capacity(m);
        for v in (m + 1)..n {
            chosen.clear();
            while chosen.len() < m {
                let t = ends[rng.below(ends.len() as u64) as usize] as usize;
                if !chosen.contains(&t) {
                    chosen.push(t);
                }
            }
            for &t in &chosen {
                g.add_edge(v, t);
                ends.push(v as u32);
                ends.push(t as u32);
            }
        }
        Ok(g)
    }

    /// Parse an edge list: one `a b` pair of 0-based node indices per line; blank lines and
    /// text after `#` ignored. The node count is the largest index plus one.
    pub fn parse_edge_list(text: &str) -> Result<Self, TopologyError> {
        let mut pairs = Vec::new();
        let mut max = 0usize;
        for (no, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut it = line.split_whitespace();
            let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
                return Err(TopologyError::BadLine(no + 1));
            };
            let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) else {
                return Err(TopologyError::BadLine(no + 1));
            };
            if a >= MAX_NODES || b >= MAX_NODES {
                return Err(TopologyError::TooLarge);
            }
            max = max.max(a).max(b);
            pairs.push((a, b));
        }
        check_n(max + 1)?;
        let mut g = Self::empty(max + 1);
        for (a, b) in pairs {
            g.add_edge(a, b);
        }
        Ok(g)
    }

    /// Read an edge-list file (see [`Graph::parse_edge_list`]).
    pub fn from_file(path: &std::path::Path) -> Result<Self, TopologyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TopologyError::Io(format!("{}: {e}", path.display())))?;
        Self::parse_edge_list(&text)
    }

    /// The edge list in the format [`Graph::parse_edge_list`] reads.
    pub fn to_edge_list(&self) -> String {
        let mut s = format!(
            "# hyphae-sim topology: {} nodes, {} edges\n",
            self.len(),
            self.edge_count()
        );
        for (a, b) in self.edges() {
            s.push_str(&format!("{a} {b}\n"));
        }
        s
    }

    /// The subgraph of the largest connected component, renumbered in index order.
    pub fn largest_component(&self) -> Self {
        let alive = vec![true; self.len()];
        let comp = self.components(&alive);
        let mut sizes = vec![0usize; self.len()];
        for &c in &comp {
            if c != u32::MAX {
                sizes[c as usize] += 1;
            }
        }
        let best = sizes
            .iter()
            .enumerate()
            .max_by_key(|&(i, s)| (*s, core::cmp::Reverse(i)))
            .map_or(0, |(i, _)| i) as u32;
        let mut map = vec![u32::MAX; self.len()];
        let mut next = 0u32;
        for (i, &c) in comp.iter().enumerate() {
            if c == best {
                map[i] = next;
                next += 1;
            }
        }
        let mut g = Self::empty(next as usize);
        for (a, b) in self.edges() {
            if map[a] != u32::MAX && map[b] != u32::MAX {
                g.add_edge(map[a] as usize, map[b] as usize);
            }
        }
        g.positions = self.positions.as_ref().map(|p| {
            p.iter()
                .enumerate()
                .filter(|(i, _)| map[*i] != u32::MAX)
                .map(|(_, &xy)| xy)
                .collect()
        });
        g
    }

    /// Component label of every node over the nodes marked alive (`u32::MAX` for dead ones);
    /// a label is the smallest index in its component.
    pub fn components(&self, alive: &[bool]) -> Vec<u32> {
        let mut comp = vec![u32::MAX; self.len()];
        let mut q = VecDeque::new();
        for s in 0..self.len() {
            if comp[s] != u32::MAX || !alive.get(s).copied().unwrap_or(false) {
                continue;
            }
            comp[s] = s as u32;
            q.push_back(s);
            while let Some(u) = q.pop_front() {
                for &v in &self.adj[u] {
                    let v = v as usize;
                    if comp[v] == u32::MAX && alive.get(v).copied().unwrap_or(false) {
                        comp[v] = s as u32;
                        q.push_back(v);
                    }
                }
            }
        }
        comp
    }

    /// Breadth-first hop distances from `src` over alive nodes and usable edges
    /// (`u32::MAX` where unreachable); `parent` gets each node's predecessor.
    pub fn bfs(
        &self,
        src: usize,
        alive: &[bool],
        edge_ok: impl Fn(usize, usize) -> bool,
        parent: Option<&mut Vec<u32>>,
    ) -> Vec<u32> {
        self.bfs_until(src, None, alive, edge_ok, parent)
    }

    /// [`Graph::bfs`] that stops as soon as `stop` is reached (distances beyond are unset).
    pub fn bfs_until(
        &self,
        src: usize,
        stop: Option<usize>,
        alive: &[bool],
        edge_ok: impl Fn(usize, usize) -> bool,
        parent: Option<&mut Vec<u32>>,
    ) -> Vec<u32> {
        let mut dist = vec![u32::MAX; self.len()];
        let mut par = parent;
        if let Some(p) = par.as_deref_mut() {
            p.clear();
            p.resize(self.len(), u32::MAX);
        }
        if src >= self.len() || !alive[src] {
            return dist;
        }
        dist[src] = 0;
        let mut q = VecDeque::from([src]);
        while let Some(u) = q.pop_front() {
            for &v in &self.adj[u] {
                let v = v as usize;
                if dist[v] == u32::MAX && alive[v] && edge_ok(u, v) {
                    dist[v] = dist[u] + 1;
                    if let Some(p) = par.as_deref_mut() {
                        p[v] = u as u32;
                    }
                    if stop == Some(v) {
                        return dist;
                    }
                    q.push_back(v);
                }
            }
        }
        dist
    }

    /// For geometric graphs: every node within `radius` metres of each node that is not
    /// already its neighbour (the nodes it senses and interferes with without a usable link).
    /// Empty lists without positions.
    pub fn within(&self, radius: f64) -> Vec<Vec<u32>> {
        let n = self.len();
        let mut out = vec![Vec::new(); n];
        let Some(pos) = &self.positions else {
            return out;
        };
        if n == 0 || radius.is_nan() || radius <= 0.0 {
            return out;
        }
        let (mut x0, mut y0) = (f64::MAX, f64::MAX);
        for p in pos {
            x0 = x0.min(p.0);
            y0 = y0.min(p.1);
        }
        let mut buckets: std::collections::HashMap<(i64, i64), Vec<u32>> =
            std::collections::HashMap::new();
        let cell = |p: (f64, f64)| (((p.0 - x0) / radius) as i64, ((p.1 - y0) / radius) as i64);
        for (i, &p) in pos.iter().enumerate() {
            buckets.entry(cell(p)).or_default().push(i as u32);
        }
        let r2 = radius * radius;
        for (i, &p) in pos.iter().enumerate() {
            let (cx, cy) = cell(p);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let Some(b) = buckets.get(&(cx + dx, cy + dy)) else {
                        continue;
                    };
                    for &j in b {
                        if j as usize == i || self.adj[i].contains(&j) {
                            continue;
                        }
                        let q = pos[j as usize];
                        if (q.0 - p.0).powi(2) + (q.1 - p.1).powi(2) <= r2 {
                            out[i].push(j);
                        }
                    }
                }
            }
            out[i].sort_unstable();
        }
        out
    }

    /// Positions for drawing: the real ones, else a circle layout.
    pub fn layout(&self) -> Vec<(f64, f64)> {
        if let Some(p) = &self.positions {
            return p.clone();
        }
        let n = self.len().max(1) as f64;
        (0..self.len())
            .map(|i| {
                let a = 2.0 * core::f64::consts::PI * i as f64 / n;
                (a.cos(), a.sin())
            })
            .collect()
    }
}

fn check_n(n: usize) -> Result<(), TopologyError> {
    if n < 2 {
        Err(TopologyError::TooSmall)
    } else if n > MAX_NODES {
        Err(TopologyError::TooLarge)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert, proptest};

    #[test]
    fn line_and_grid() {
        let l = Graph::line(5, 10.0).unwrap();
        assert_eq!(l.edge_count(), 4);
        let all = vec![true; 5];
        assert_eq!(l.bfs(0, &all, |_, _| true, None)[4], 4);
        let g = Graph::grid(9, 10.0).unwrap();
        assert_eq!(g.edge_count(), 12);
        let g = Graph::grid(10, 10.0).unwrap();
        assert_eq!(g.len(), 10);
        assert_eq!(
            g.components(&[true; 10])
                .iter()
                .filter(|&&c| c == 0)
                .count(),
            10
        );
    }

    #[test]
    fn rgg_degree_and_connected() {
        let mut rng = Rng::new(1, 0);
        let g = Graph::rgg(2000, 10.0, 100.0, &mut rng).unwrap();
        assert!(g.len() > 1900, "{}", g.len());
        let d = g.mean_degree();
        assert!((8.0..11.0).contains(&d), "mean degree {d}");
        let alive = vec![true; g.len()];
        assert!(g.components(&alive).iter().all(|&c| c == 0));
        // Every edge is within range.
        let p = g.positions.as_ref().unwrap();
        for (a, b) in g.edges() {
            let d2 = (p[a].0 - p[b].0).powi(2) + (p[a].1 - p[b].1).powi(2);
            assert!(d2 <= 100.0 * 100.0 + 1e-6);
        }
    }

    #[test]
    fn ba_degrees() {
        let mut rng = Rng::new(3, 0);
        let g = Graph::barabasi_albert(1000, 3, &mut rng).unwrap();
        assert_eq!(g.edge_count(), 6 + 3 * (1000 - 4));
        let max = (0..1000).map(|i| g.neighbours(i).len()).max().unwrap();
        assert!(max > 30, "hubs expected, max degree {max}");
        assert_eq!(
            Graph::barabasi_albert(10, 10, &mut rng).unwrap_err(),
            TopologyError::BadAttachment
        );
    }

    #[test]
    fn edge_list_round_trip_and_errors() {
        let mut rng = Rng::new(5, 0);
        let g = Graph::barabasi_albert(50, 2, &mut rng).unwrap();
        let h = Graph::parse_edge_list(&g.to_edge_list()).unwrap();
        assert_eq!(h.len(), 50);
        assert_eq!(h.edges().collect::<Vec<_>>(), g.edges().collect::<Vec<_>>());
        assert_eq!(
            Graph::parse_edge_list("0 1\n1 x\n").unwrap_err(),
            TopologyError::BadLine(2)
        );
        assert_eq!(
            Graph::parse_edge_list("0 1 2\n").unwrap_err(),
            TopologyError::BadLine(1)
        );
        assert_eq!(
            Graph::parse_edge_list("# only a comment\n").unwrap_err(),
            TopologyError::TooSmall
        );
        assert_eq!(
            Graph::parse_edge_list("0 99999999999\n").unwrap_err(),
            TopologyError::TooLarge
        );
    }

    proptest! {
        #[test]
        fn edge_list_parser_never_panics(s in "\\PC{0,200}") {
            let _ = Graph::parse_edge_list(&s);
        }

        #[test]
        fn bfs_distances_are_consistent(n in 2usize..60, seed in any::<u64>()) {
            let mut rng = Rng::new(seed, 0);
            let g = Graph::barabasi_albert(n.max(3), 1, &mut rng).unwrap();
            let alive = vec![true; g.len()];
            let d = g.bfs(0, &alive, |_, _| true, None);
            for (a, b) in g.edges() {
                prop_assert!(d[a].abs_diff(d[b]) <= 1);
            }
        }
    }
}
