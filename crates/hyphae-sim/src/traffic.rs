//! Traffic: generators, message bookkeeping, scheduled actions, and the simulator's own
//! shortest-path routes for the `static` router.

use std::collections::HashMap;

use hyphae_core::event::Delivery;
use hyphae_core::{FailReason, Instant};

use crate::scenario::{Action, Traffic as Gen};
use crate::world::{Ev, World, node_id};

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Sent, no outcome yet.
    Pending,
    /// Delivered intact at the destination.
    Delivered,
    /// The sender was told it failed (or `send` refused it).
    Failed,
}

/// One application message the simulator sent.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) src: u32,
    pub(crate) dst: u32,
    pub(crate) size: u32,
    pub(crate) sent_us: u64,
    pub(crate) version: u32,
    pub(crate) connected: bool,
    pub(crate) state: State,
    pub(crate) delivered_us: u64,
    pub(crate) hops: u32,
    pub(crate) fail: Option<String>,
    /// Which generator sent it.
    pub(crate) generator: u32,
    /// The sender learnt the outcome (SendDone / SendFailed).
    pub(crate) acked: bool,
}

/// Traffic state.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub(crate) msgs: Vec<Msg>,
    by_send: HashMap<(u32, u32), u32>,
    /// Bulk generators: blobs still to send.
    bulk_left: HashMap<u32, u32>,
    /// Nearest gateway per node (sensor generators).
    gateway_of: HashMap<u32, Vec<u32>>,
    /// Deliveries of a message already delivered (exactly-once violations).
    pub(crate) duplicate_deliveries: u64,
    /// Deliveries whose bytes differ from what was sent.
    pub(crate) corrupt_deliveries: u64,
    /// Deliveries to a node other than the destination.
    pub(crate) misdelivered: u64,
    /// Deliveries of a message the sender had been told failed.
    pub(crate) delivered_after_failure: u64,
    /// Failures by reason.
    pub(crate) fail_reasons: std::collections::BTreeMap<String, u64>,
}

/// The payload of message `id`: its id, then a pattern derived from it.
pub(crate) fn payload(id: u32, size: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..size)
        .map(|k| (k as u32).wrapping_mul(31).wrapping_add(id) as u8)
        .collect();
    v[..4].copy_from_slice(&id.to_le_bytes());
    v[4..8].copy_from_slice(&(size as u32).to_le_bytes());
    v
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    World<P, T, IN, OUT, M>
{
    /// Schedule the first step of every generator and every action.
    pub(crate) fn plan(&mut self) {
        let start = (self.sc.warmup * 1e6) as u64;
        let n = self.slots.len();
        let gens = self.sc.traffic.clone();
        for (g, generator) in gens.iter().enumerate() {
            let g = g as u32;
            match generator {
                Gen::Bulk { from, count, .. } => {
                    let src = self.resolve(*from);
                    self.traffic.bulk_left.insert(g, *count);
                    self.schedule(
                        start,
                        Ev::Traffic {
                            generator: g,
                            node: src as u32,
                        },
                    );
                }
                Gen::Pairs {
                    per_node_per_min, ..
                } => {
                    for i in 0..n {
                        let d = self.exp_gap(*per_node_per_min);
                        self.schedule(
                            start + d,
                            Ev::Traffic {
                                generator: g,
                                node: i as u32,
                            },
                        );
                    }
                }
                Gen::Sensor {
                    interval, gateways, ..
                } => {
                    let gws: Vec<u32> = (0..*gateways).map(|k| (k * n / gateways) as u32).collect();
                    // Nearest gateway of every node: multi-source breadth-first search.
                    let mut near = vec![u32::MAX; n];
                    let mut dist = vec![u32::MAX; n];
                    let mut q = std::collections::VecDeque::new();
                    for &gw in &gws {
                        near[gw as usize] = gw;
                        dist[gw as usize] = 0;
                        q.push_back(gw as usize);
                    }
                    while let Some(u) = q.pop_front() {
                        for &v in self.graph.neighbours(u) {
                            if dist[v as usize] == u32::MAX {
                                dist[v as usize] = dist[u] + 1;
                                near[v as usize] = near[u];
                                q.push_back(v as usize);
                            }
                        }
                    }
                    for (i, &nearest) in near.iter().enumerate() {
                        if gws.contains(&(i as u32)) || nearest == u32::MAX {
                            continue;
                        }
                        let phase = (self.traffic_rng.f64() * interval * 1e6) as u64;
                        self.schedule(
                            start + phase,
                            Ev::Traffic {
                                generator: g,
                                node: i as u32,
                            },
                        );
                    }
                    self.traffic.gateway_of.insert(g, near);
                }
            }
        }
        let mut actions = self.sc.events.clone();
        if self.sc.fail_fraction > 0.0 {
            actions.push(Action::Crash {
                at: self.sc.fail_at,
                nodes: Vec::new(),
                fraction: self.sc.fail_fraction,
            });
        }
        self.sc.events = actions;
        for (k, a) in self.sc.events.clone().iter().enumerate() {
            self.schedule((a.at() * 1e6) as u64, Ev::Action(k as u32));
        }
    }

    fn resolve(&self, idx: i64) -> usize {
        let n = self.slots.len() as i64;
        (if idx < 0 { n + idx } else { idx }).clamp(0, n - 1) as usize
    }

    /// An exponential gap for a Poisson process of `per_min` events a minute, µs.
    fn exp_gap(&mut self, per_min: f64) -> u64 {
        let u = self.traffic_rng.f64().max(1e-12);
        (-u.ln() * 60e6 / per_min) as u64
    }

    pub(crate) fn traffic_step(&mut self, g: usize, i: usize) {
        let Some(generator) = self.sc.traffic.get(g).cloned() else {
            return;
        };
        let n = self.slots.len();
        let stop = ((self.sc.duration - self.sc.cooldown) * 1e6) as u64;
        if self.now >= stop && !matches!(generator, Gen::Bulk { .. }) {
            return;
        }
        match generator {
            Gen::Bulk { to, size, .. } => {
                let left = self
                    .traffic
                    .bulk_left
                    .get(&(g as u32))
                    .copied()
                    .unwrap_or(0);
                if left == 0 {
                    return;
                }
                self.traffic.bulk_left.insert(g as u32, left - 1);
                let dst = self.resolve(to);
                self.send_msg(g, i, dst, size.unwrap_or(self.sc.size));
            }
            Gen::Pairs {
                per_node_per_min,
                size,
            } => {
                if self.slots[i].alive {
                    let mut dst = self.traffic_rng.below(n as u64 - 1) as usize;
                    if dst >= i {
                        dst += 1;
                    }
                    self.send_msg(g, i, dst, size.unwrap_or(self.sc.size));
                }
                let d = self.exp_gap(per_node_per_min).max(1);
                self.schedule(
                    self.now + d,
                    Ev::Traffic {
                        generator: g as u32,
                        node: i as u32,
                    },
                );
            }
            Gen::Sensor { interval, size, .. } => {
                let dst = self
                    .traffic
                    .gateway_of
                    .get(&(g as u32))
                    .and_then(|v| v.get(i))
                    .copied()
                    .unwrap_or(u32::MAX);
                if self.slots[i].alive && dst != u32::MAX {
                    self.send_msg(g, i, dst as usize, size.unwrap_or(self.sc.size));
                }
                let d = ((interval * 1e6) as u64).max(1);
                self.schedule(
                    self.now + d,
                    Ev::Traffic {
                        generator: g as u32,
                        node: i as u32,
                    },
                );
            }
        }
    }

    fn send_msg(&mut self, g: usize, src: usize, dst: usize, size: usize) {
        let id = self.traffic.msgs.len() as u32;
        let version = self.version();
        let comp = &self.versions[version as usize].comp;
        let connected = comp[src] != u32::MAX && comp[src] == comp[dst];
        let mut msg = Msg {
            src: src as u32,
            dst: dst as u32,
            size: size as u32,
            sent_us: self.now,
            version,
            connected,
            state: State::Pending,
            delivered_us: 0,
            hops: 0,
            fail: None,
            generator: g as u32,
            acked: false,
        };
        if self.sc.router == "static" {
            self.install_path(src, dst);
        }
        if self.sc.router == "tree" && self.sc.names == "oracle" && self.slots[dst].alive {
            // A perfect directory: each end learns the other's current coordinates (the
            // destination needs the source's to route its acknowledgements back).
            let now = Instant::from_micros(self.now);
            for (a, b) in [(src, dst), (dst, src)] {
                let pos = self.slots[b].node.position();
                if pos.iter().any(Option::is_some) {
                    self.slots[a].node.learn_position(now, node_id(b), &pos);
                }
            }
        }
        let data = payload(id, size);
        let now = Instant::from_micros(self.now);
        let app = self.app;
        match self.slots[src].node.send(now, app, node_id(dst), &data) {
            Ok(sid) => {
                self.traffic.by_send.insert((src as u32, sid.0), id);
                self.traffic.msgs.push(msg);
            }
            Err(e) => {
                msg.state = State::Failed;
                msg.acked = true;
                let r = format!("refused: {e}");
                *self.traffic.fail_reasons.entry(r.clone()).or_default() += 1;
                msg.fail = Some(r);
                self.traffic.msgs.push(msg);
                self.next_bulk(g, src);
            }
        }
        self.drain(src);
    }

    fn next_bulk(&mut self, g: usize, src: usize) {
        if matches!(self.sc.traffic.get(g), Some(Gen::Bulk { .. })) {
            self.schedule(
                self.now,
                Ev::Traffic {
                    generator: g as u32,
                    node: src as u32,
                },
            );
        }
    }

    /// The `static` router: install the current shortest path (both directions) as static
    /// routes along the way, evicting each node's oldest route when its table is full.
    fn install_path(&mut self, src: usize, dst: usize) {
        let alive = &self.versions[self.version() as usize].alive;
        let mut parent = Vec::new();
        let cuts = &self.cuts;
        let d = self.graph.bfs_until(
            src,
            Some(dst),
            alive,
            |a, b| {
                cuts.is_empty() || {
                    let k = if a < b {
                        (a as u32, b as u32)
                    } else {
                        (b as u32, a as u32)
                    };
                    !cuts.contains(&k)
                }
            },
            Some(&mut parent),
        );
        if d[dst] == u32::MAX || d[dst] <= 1 {
            return;
        }
        let mut path = vec![dst];
        while let Some(&last) = path.last() {
            if last == src {
                break;
            }
            path.push(parent[last] as usize);
        }
        path.reverse();
        for w in 0..path.len() {
            if w + 1 < path.len() && w + 1 != path.len() - 1 {
                self.add_route(path[w], dst, path[w + 1]);
            }
            if w >= 2 {
                self.add_route(path[w], src, path[w - 1]);
            }
        }
    }

    fn add_route(&mut self, at: usize, dest: usize, via: usize) {
        let s = &mut self.slots[at];
        let d = node_id(dest);
        if let Some(pos) = s.routes.iter().position(|x| *x == d) {
            s.routes.remove(pos);
        } else if s.routes.len() >= hyphae_core::node::STATIC_ROUTES
            && let Some(old) = s.routes.pop_front()
        {
            s.node.remove_route(&old);
        }
        s.routes.push_back(d);
        s.node.set_route(d, node_id(via));
    }

    pub(crate) fn on_delivered(&mut self, at: usize, d: &Delivery, bytes: &[u8]) {
        if bytes.len() < 8 {
            self.traffic.corrupt_deliveries += 1;
            return;
        }
        let id = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let Some(m) = self.traffic.msgs.get_mut(id as usize) else {
            self.traffic.corrupt_deliveries += 1;
            return;
        };
        if m.dst as usize != at {
            self.traffic.misdelivered += 1;
            return;
        }
        if bytes != payload(id, m.size as usize).as_slice() {
            self.traffic.corrupt_deliveries += 1;
            return;
        }
        match m.state {
            State::Delivered => {
                self.traffic.duplicate_deliveries += 1;
                return;
            }
            State::Failed => self.traffic.delivered_after_failure += 1,
            State::Pending => {}
        }
        m.state = State::Delivered;
        m.delivered_us = self.now;
        m.hops = match d.hop_limit_left {
            None => 1,
            Some(left) => {
                let initial = match self.config.routing {
                    hyphae_core::config::Routing::Flood { hop_limit, .. } => hop_limit,
                    _ => self.config.hop_limit,
                };
                u32::from(initial.saturating_sub(left)) + 1
            }
        };
    }

    pub(crate) fn on_send_done(&mut self, at: usize, send: u32, failed: Option<FailReason>) {
        let Some(id) = self.traffic.by_send.remove(&(at as u32, send)) else {
            return;
        };
        let Some(m) = self.traffic.msgs.get_mut(id as usize) else {
            return;
        };
        m.acked = true;
        let generator = m.generator as usize;
        if let Some(r) = failed
            && m.state != State::Delivered
        {
            m.state = State::Failed;
            let r = r.to_string();
            *self.traffic.fail_reasons.entry(r.clone()).or_default() += 1;
            m.fail = Some(r);
        }
        self.next_bulk(generator, at);
    }

    pub(crate) fn action(&mut self, k: usize) {
        let Some(a) = self.sc.events.get(k).cloned() else {
            return;
        };
        match a {
            Action::Crash {
                nodes, fraction, ..
            } => {
                let victims: Vec<usize> = if nodes.is_empty() {
                    let mut live: Vec<usize> = (0..self.slots.len())
                        .filter(|&i| self.slots[i].alive)
                        .collect();
                    let want = (live.len() as f64 * fraction).round() as usize;
                    // Partial Fisher–Yates: the first `want` are a uniform sample.
                    for x in 0..want.min(live.len()) {
                        let y = x + self.traffic_rng.below((live.len() - x) as u64) as usize;
                        live.swap(x, y);
                    }
                    live.truncate(want);
                    live
                } else {
                    nodes
                };
                for i in victims {
                    if i < self.slots.len() {
                        self.crash(i);
                    }
                }
            }
            Action::Restart { nodes, .. } => {
                let list: Vec<usize> = if nodes.is_empty() {
                    (0..self.slots.len())
                        .filter(|&i| !self.slots[i].alive)
                        .collect()
                } else {
                    nodes
                };
                for i in list {
                    if i < self.slots.len() {
                        self.restart(i);
                    }
                }
            }
            Action::Cut { a, b, .. } => {
                if a < self.slots.len() && b < self.slots.len() {
                    self.cut(a as u32, b as u32);
                }
            }
            Action::Partition { .. } => {
                let n = self.slots.len();
                let side: Vec<bool> = match &self.graph.positions {
                    Some(p) => {
                        let mut xs: Vec<f64> = p.iter().map(|q| q.0).collect();
                        xs.sort_by(f64::total_cmp);
                        let mid = xs[n / 2];
                        p.iter().map(|q| q.0 < mid).collect()
                    }
                    None => (0..n).map(|i| i < n / 2).collect(),
                };
                let cross: Vec<(usize, usize)> = self
                    .graph
                    .edges()
                    .filter(|&(a, b)| side[a] != side[b])
                    .collect();
                for (a, b) in cross {
                    self.cut(a as u32, b as u32);
                }
            }
            Action::Heal { .. } => self.cuts.clear(),
        }
        self.snapshot_topology();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_carries_id_and_size() {
        let p = payload(7, 40);
        assert_eq!(p.len(), 40);
        assert_eq!(&p[..4], &7u32.to_le_bytes());
        assert_eq!(&p[4..8], &40u32.to_le_bytes());
        assert_ne!(payload(8, 40), p);
    }
}
