//! The run's summary (JSON), time series (CSV) and what they are computed from.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::stats::class;
use crate::traffic::State;
use crate::world::World;

/// Sources whose shortest paths are computed for the stretch (more are sampled evenly).
pub(crate) const STRETCH_SOURCES: usize = 2000;

/// What happened around a mass failure.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailureReport {
    /// When the nodes crashed, seconds.
    pub at_s: f64,
    /// Nodes crashed.
    pub crashed: u64,
    /// Messages between still-connected pairs sent in the 5 s after the crash.
    pub sent_first_5s: u64,
    /// Their delivery ratio.
    pub delivery_ratio_first_5s: Option<f64>,
    /// Delivery ratio of still-connected pairs' messages sent from 30 s after the crash on.
    pub delivery_ratio_after_30s: Option<f64>,
    /// Seconds after the crash from which every later 1-second window delivers ≥ 99 % of
    /// still-connected pairs' messages (`null`: never within the run).
    pub repair_seconds: Option<f64>,
}

/// The JSON summary of one run. Every figure is measured from the run itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Radio.
    pub link: String,
    /// Router.
    pub router: String,
    /// How routed traffic found its way.
    pub routing_note: String,
    /// Topology asked for.
    pub topology: String,
    /// Nodes simulated.
    pub nodes: usize,
    /// Links (graph edges).
    pub edges: usize,
    /// Mean degree.
    pub mean_degree: f64,
    /// Simulated seconds.
    pub sim_seconds: f64,
    /// Wall-clock seconds of the simulation (not reproducible; zero with `--reproducible`).
    pub wall_seconds: f64,
    /// Events processed.
    pub events: u64,
    /// Events per wall-clock second (zero with `--reproducible`).
    pub events_per_wall_second: f64,
    /// Peak resident memory of the process in bytes (Linux; zero with `--reproducible`).
    pub peak_rss_bytes: u64,
    /// Messages sent by the traffic generators.
    pub sent: u64,
    /// Delivered intact to their destination.
    pub delivered: u64,
    /// Sender told they failed (or `send` refused them) and not delivered.
    pub failed: u64,
    /// Neither delivered nor failed when the run ended.
    pub pending: u64,
    /// `delivered / sent`.
    pub delivery_ratio: f64,
    /// Messages whose ends were alive and connected when sent.
    pub connected_sent: u64,
    /// Of those, delivered.
    pub connected_delivered: u64,
    /// `connected_delivered / connected_sent`.
    pub delivery_ratio_connected: f64,
    /// Mean latency of delivered messages, ms.
    pub latency_ms_mean: f64,
    /// Median latency, ms.
    pub latency_ms_p50: f64,
    /// 99th-percentile latency, ms.
    pub latency_ms_p99: f64,
    /// Mean hops of delivered messages (from the routing header's remaining hop limit).
    pub mean_hops: f64,
    /// Mean shortest-path hops of the same messages, on the topology when each was sent.
    pub mean_shortest_hops: f64,
    /// `mean_hops / mean_shortest_hops`.
    pub stretch: f64,
    /// Delivered messages the stretch was computed over.
    pub stretch_samples: u64,
    /// Median and 90th percentile of the per-message stretch (hops / shortest hops): the
    /// mean above is pulled up by a few long detours, these show the typical path.
    pub stretch_p50: f64,
    /// See `stretch_p50`.
    pub stretch_p90: f64,
    /// Data and transport frames sent per delivered message.
    pub transmissions_per_delivered: f64,
    /// Frames sent: data (single, fragments).
    pub data_frames: u64,
    /// Frames sent: transport control (acks, status, notices).
    pub transport_frames: u64,
    /// Frames sent: mesh control (beacons, tree, gossip, service, trace, handshake).
    pub control_frames: u64,
    /// Mesh-control bytes sent per node per simulated minute.
    pub control_bytes_per_node_per_min: f64,
    /// Memory of one node: the core's `Node` value (it allocates nothing else).
    pub peak_node_ram_bytes: usize,
    /// Routing state in use at the end, mean over live nodes (compact encoding; the core's
    /// `routing_state_bytes`).
    pub routing_state_bytes_mean: f64,
    /// The same, largest node.
    pub routing_state_bytes_max: usize,
    /// Memory the node reserves for routing state (`routing_state_allocated`).
    pub routing_state_allocated: usize,
    /// Tree router: distinct roots per tree among live nodes at the end (1 = one tree).
    pub tree_roots: Vec<usize>,
    /// Tree router: share of live nodes attached in every tree at the end.
    pub tree_attached: f64,
    /// Routing counters summed over nodes (tree messages, greedy forwards, backtracks,
    /// unreachable, flood rebroadcasts and duplicates, reparents, renumbers, root losses).
    pub routing: BTreeMap<String, u64>,
    /// Receptions destroyed by overlapping transmissions.
    pub collisions: u64,
    /// Frames lost to link loss.
    pub frames_lost: u64,
    /// Frames delivered with a flipped bit.
    pub corrupted_frames: u64,
    /// Frames the medium duplicated.
    pub duplicated_frames: u64,
    /// Share of unicast frames the target received (MAC acknowledgements).
    pub mac_ack_ratio: f64,
    /// Largest share of time any node spent transmitting.
    pub max_duty_cycle: f64,
    /// Messages delivered more than once (must be 0).
    pub duplicate_deliveries: u64,
    /// Deliveries whose bytes differ from what was sent (must be 0).
    pub corrupt_deliveries: u64,
    /// Deliveries to the wrong node (must be 0).
    pub misdelivered: u64,
    /// Messages delivered although their sender was told they failed.
    pub delivered_after_failure: u64,
    /// Messages whose sender was told they succeeded but that never arrived intact: silent
    /// loss (must be 0; a forged or corrupted acknowledgement causes it).
    pub acked_not_delivered: u64,
    /// Failures by reason.
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Nodes crashed during the run.
    pub crashes: u64,
    /// Whether frames were sealed and checked.
    pub security: bool,
    /// Nodes provisioned for another network.
    pub outsiders: usize,
    /// Frames dropped by the nodes, by reason (`hyphae_core::DropReason` names), summed.
    pub drops: BTreeMap<String, u64>,
    /// Frames nodes could not seal (no confirmed counter reservation, or no security).
    pub seal_failures: u64,
    /// Mass-failure figures, when the scenario crashes nodes.
    pub failure: Option<FailureReport>,
    /// Bulk: mean goodput of delivered blobs, bit/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_bps: Option<f64>,
    /// Bulk: the radio's loss-free limit for one blob, bit/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_limit_bps: Option<f64>,
    /// Bulk: `goodput / (limit × (1 − loss))`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_ratio: Option<f64>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

/// Round to 6 significant decimals so the JSON is stable and readable.
fn r6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        0.0
    }
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    World<P, T, IN, OUT, M>
{
    /// Hop distances for the stretch, per delivered message (sampled by source).
    fn shortest_hops(&self) -> HashMap<u32, u32> {
        let mut groups: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
        for (id, m) in self.traffic.msgs.iter().enumerate() {
            if m.state == State::Delivered {
                groups
                    .entry((m.version, m.src))
                    .or_default()
                    .push(id as u32);
            }
        }
        let step = groups.len().div_ceil(STRETCH_SOURCES).max(1);
        let mut out = HashMap::new();
        for (k, ((version, src), ids)) in groups.iter().enumerate() {
            if k % step != 0 {
                continue;
            }
            let v = &self.versions[*version as usize];
            let cuts = &v.cuts;
            let d = self.graph.bfs(
                *src as usize,
                &v.alive,
                |a, b| {
                    let key = if a < b {
                        (a as u32, b as u32)
                    } else {
                        (b as u32, a as u32)
                    };
                    !cuts.contains(&key)
                },
                None,
            );
            for &id in ids {
                let m = &self.traffic.msgs[id as usize];
                let h = d[m.dst as usize];
                if h != u32::MAX && h > 0 {
                    out.insert(id, h);
                }
            }
        }
        out
    }

    /// The summary of the run so far.
    pub(crate) fn report(&self) -> Report {
        let sc = &self.sc;
        let msgs = &self.traffic.msgs;
        let sent = msgs.len() as u64;
        let delivered = msgs.iter().filter(|m| m.state == State::Delivered).count() as u64;
        let failed = msgs.iter().filter(|m| m.state == State::Failed).count() as u64;
        let connected_sent = msgs.iter().filter(|m| m.connected).count() as u64;
        let connected_delivered = msgs
            .iter()
            .filter(|m| m.connected && m.state == State::Delivered)
            .count() as u64;
        let mut lat: Vec<f64> = msgs
            .iter()
            .filter(|m| m.state == State::Delivered)
            .map(|m| (m.delivered_us - m.sent_us) as f64 / 1000.0)
            .collect();
        lat.sort_by(f64::total_cmp);
        let lat_mean = if lat.is_empty() {
            0.0
        } else {
            lat.iter().sum::<f64>() / lat.len() as f64
        };
        let short = self.shortest_hops();
        let (mut hs, mut ss, mut k) = (0u64, 0u64, 0u64);
        let mut ids: Vec<&u32> = short.keys().collect();
        ids.sort();
        let mut per_msg: Vec<f64> = Vec::with_capacity(ids.len());
        for id in ids {
            hs += u64::from(msgs[*id as usize].hops);
            ss += u64::from(short[id]);
            k += 1;
            if short[id] > 0 {
                per_msg.push(f64::from(msgs[*id as usize].hops) / f64::from(short[id]));
            }
        }
        per_msg.sort_by(f64::total_cmp);
        let (mut rs_sum, mut rs_max, mut live) = (0usize, 0usize, 0usize);
        for s in self.slots.iter().filter(|s| s.alive) {
            let b = s.node.routing_state_bytes();
            rs_sum += b;
            rs_max = rs_max.max(b);
            live += 1;
        }
        let st = &self.stats;
        let minutes = self.now as f64 / 60e6;
        let n = self.slots.len();
        let data_frames = st.frames[class::DATA];
        let transport_frames = st.frames[class::TRANSPORT];
        let bulk = self.bulk_figures();
        let routing_note = match sc.router.as_str() {
            "static" => "static: shortest paths computed by the simulator on the live topology \
                         and installed as static routes in each node (an oracle, not a \
                         routing protocol)"
                .to_string(),
            "tree" => format!(
                "tree: the core's own router (hyphae-routing, {} trees, {} metric); {}",
                sc.trees,
                sc.metric,
                if sc.names == "oracle" {
                    "names (node id -> coordinates) given by the simulator before each message"
                        .to_string()
                } else {
                    format!(
                        "names learned by gossip announcements over {} hops",
                        sc.announce_hops
                    )
                }
            ),
            r => format!(
                "{r}: the core's managed flooding, hop limit {}",
                sc.flood_hop_limit
            ),
        };
        Report {
            scenario: sc.name.clone(),
            seed: sc.seed,
            link: sc.link.clone(),
            router: sc.router.clone(),
            routing_note,
            topology: sc.topology.clone(),
            nodes: n,
            edges: self.graph.edge_count(),
            mean_degree: r6(self.graph.mean_degree()),
            sim_seconds: r6(self.now as f64 / 1e6),
            wall_seconds: 0.0,
            events: self.events,
            events_per_wall_second: 0.0,
            peak_rss_bytes: 0,
            sent,
            delivered,
            failed,
            pending: sent - delivered - failed,
            delivery_ratio: r6(ratio(delivered, sent)),
            connected_sent,
            connected_delivered,
            delivery_ratio_connected: r6(ratio(connected_delivered, connected_sent)),
            latency_ms_mean: r6(lat_mean),
            latency_ms_p50: r6(percentile(&lat, 0.5)),
            latency_ms_p99: r6(percentile(&lat, 0.99)),
            mean_hops: r6(ratio(hs, k)),
            mean_shortest_hops: r6(ratio(ss, k)),
            stretch: r6(ratio(hs, ss)),
            stretch_samples: k,
            stretch_p50: r6(percentile(&per_msg, 0.5)),
            stretch_p90: r6(percentile(&per_msg, 0.9)),
            transmissions_per_delivered: r6(ratio(data_frames + transport_frames, delivered)),
            data_frames,
            transport_frames,
            control_frames: st.frames[class::CONTROL],
            control_bytes_per_node_per_min: r6(st.bytes[class::CONTROL] as f64
                / n.max(1) as f64
                / minutes.max(1e-9)),
            peak_node_ram_bytes: size_of::<hyphae_core::Node<P, T, IN, OUT, M>>(),
            routing_state_bytes_mean: r6(rs_sum as f64 / live.max(1) as f64),
            routing_state_bytes_max: rs_max,
            routing_state_allocated: self
                .slots
                .first()
                .map_or(0, |s| s.node.routing_state_allocated()),
            routing: self.routing_totals(),
            tree_roots: (0..usize::from(if sc.router == "tree" { sc.trees } else { 0 }))
                .map(|t| {
                    let mut roots: Vec<[u8; 4]> = self
                        .slots
                        .iter()
                        .filter(|s| s.alive)
                        .filter_map(|s| s.node.tree_root(t).map(|r| r.0))
                        .collect();
                    roots.sort_unstable();
                    roots.dedup();
                    roots.len()
                })
                .collect(),
            tree_attached: r6(ratio(
                self.slots
                    .iter()
                    .filter(|s| s.alive && s.node.tree_attached())
                    .count() as u64,
                live as u64,
            )),
            collisions: st.collisions,
            frames_lost: st.frames_lost,
            corrupted_frames: st.corrupted,
            duplicated_frames: st.duplicated,
            mac_ack_ratio: r6(ratio(st.unicast_acked, st.unicast_sent)),
            max_duty_cycle: r6(self.max_duty_cycle()),
            duplicate_deliveries: self.traffic.duplicate_deliveries,
            corrupt_deliveries: self.traffic.corrupt_deliveries,
            misdelivered: self.traffic.misdelivered,
            delivered_after_failure: self.traffic.delivered_after_failure,
            acked_not_delivered: msgs
                .iter()
                .filter(|m| m.acked && m.fail.is_none() && m.state != State::Delivered)
                .count() as u64,
            failed_by_reason: self.traffic.fail_reasons.clone(),
            crashes: st.crashes,
            security: sc.security,
            outsiders: self.outsider.iter().filter(|o| **o).count(),
            drops: {
                let mut m = BTreeMap::new();
                for s in &self.slots {
                    for r in hyphae_core::DropReason::ALL {
                        let c = s.node.counters().drop_count(r);
                        if c > 0 {
                            *m.entry(r.name().to_string()).or_default() += c;
                        }
                    }
                }
                m
            },
            seal_failures: self
                .slots
                .iter()
                .map(|s| s.node.counters().seal_failures)
                .sum(),
            failure: self.failure_figures(),
            goodput_bps: bulk.map(|b| r6(b.0)),
            goodput_limit_bps: bulk.map(|b| r6(b.1)),
            goodput_ratio: bulk.map(|b| r6(b.0 / (b.1 * (1.0 - sc.loss)))),
        }
    }

    fn routing_totals(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for s in &self.slots {
            let r = s.node.routing_stats();
            for (k, v) in [
                ("tree_messages", r.tree_messages),
                ("gossip_sent", r.gossip_sent),
                ("greedy_forwards", r.greedy_forwards),
                ("backtracks", r.backtracks),
                ("unreachable", r.unreachable),
                ("hop_limit_drops", r.hop_limit_drops),
                ("flood_rebroadcasts", r.flood_rebroadcasts),
                ("flood_cancelled", r.flood_cancelled),
                ("flood_duplicates", r.flood_duplicates),
                ("flood_overflow", r.flood_overflow),
                ("reparents", u64::from(r.reparents)),
                ("renumbers", u64::from(r.renumbers)),
                ("root_losses", u64::from(r.root_losses)),
                ("claims", u64::from(r.claims)),
                ("joins_root", u64::from(r.joins[0])),
                ("joins_stall", u64::from(r.joins[1])),
                ("joins_repair", u64::from(r.joins[2])),
                ("joins_shorter", u64::from(r.joins[3])),
            ] {
                *m.entry(k.to_string()).or_default() += v;
            }
        }
        m
    }

    /// (goodput, limit) over delivered bulk blobs.
    fn bulk_figures(&self) -> Option<(f64, f64)> {
        let bulk: Vec<usize> = self
            .sc
            .traffic
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t, crate::scenario::Traffic::Bulk { .. }))
            .map(|(g, _)| g)
            .collect();
        if bulk.is_empty() {
            return None;
        }
        let (mut bits, mut secs, mut size) = (0.0, 0.0, 0usize);
        for m in &self.traffic.msgs {
            if bulk.contains(&(m.generator as usize)) && m.state == State::Delivered {
                bits += f64::from(m.size) * 8.0;
                secs += (m.delivered_us - m.sent_us) as f64 / 1e6;
                size = size.max(m.size as usize);
            }
        }
        let limit = self
            .radio
            .goodput_limit_bps(size.max(self.sc.size), self.sc.security);
        Some((if secs > 0.0 { bits / secs } else { 0.0 }, limit))
    }

    fn failure_figures(&self) -> Option<FailureReport> {
        let at = self.sc.events.iter().find_map(|a| match a {
            crate::scenario::Action::Crash { at, .. } => Some(*at),
            _ => None,
        })?;
        let at_us = (at * 1e6) as u64;
        let msgs: Vec<&crate::traffic::Msg> = self
            .traffic
            .msgs
            .iter()
            .filter(|m| m.connected && m.sent_us >= at_us)
            .collect();
        let window = |from: u64, to: u64| {
            let (mut s, mut d) = (0u64, 0u64);
            for m in &msgs {
                if m.sent_us >= from && m.sent_us < to {
                    s += 1;
                    if m.state == State::Delivered {
                        d += 1;
                    }
                }
            }
            (s, d)
        };
        let (s5, d5) = window(at_us, at_us + 5_000_000);
        let stop = ((self.sc.duration - self.sc.cooldown) * 1e6) as u64;
        let (s30, d30) = window(at_us + 30_000_000, u64::MAX);
        // Repair: the first second from which every later 1-s window is ≥ 99 %.
        let secs = (stop.saturating_sub(at_us) / 1_000_000) as usize;
        let mut good = vec![true; secs];
        for (k, g) in good.iter_mut().enumerate() {
            let from = at_us + k as u64 * 1_000_000;
            let (s, d) = window(from, from + 1_000_000);
            *g = s == 0 || d as f64 >= 0.99 * s as f64;
        }
        let mut repair = None;
        for k in (0..secs).rev() {
            if good[k] {
                repair = Some(k as f64);
            } else {
                break;
            }
        }
        let crashed = self
            .versions
            .last()
            .map_or(0, |v| v.alive.iter().filter(|a| !**a).count());
        Some(FailureReport {
            at_s: at,
            crashed: crashed as u64,
            sent_first_5s: s5,
            delivery_ratio_first_5s: (s5 > 0).then(|| r6(ratio(d5, s5))),
            delivery_ratio_after_30s: (s30 > 0).then(|| r6(ratio(d30, s30))),
            repair_seconds: repair,
        })
    }

    /// The time series as CSV: one row per bucket.
    pub(crate) fn csv(&self) -> String {
        let st = &self.stats;
        let nb = st.buckets.len();
        let mut sent = vec![0u64; nb];
        let mut dlv = vec![0u64; nb];
        for m in &self.traffic.msgs {
            let b = st.bucket_of(m.sent_us);
            sent[b] += 1;
            if m.state == State::Delivered {
                dlv[b] += 1;
            }
        }
        let mut s = String::from(
            "t_s,sent,delivered,delivery_ratio,data_frames,transport_frames,control_frames,control_bytes\n",
        );
        let last = st.bucket_of(self.now.saturating_sub(1));
        for (b, bk) in st.buckets.iter().enumerate().take(last + 1) {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                r6(b as f64 * st.bucket_us as f64 / 1e6),
                sent[b],
                dlv[b],
                if sent[b] == 0 {
                    String::new()
                } else {
                    format!("{}", r6(ratio(dlv[b], sent[b])))
                },
                bk.frames[class::DATA],
                bk.frames[class::TRANSPORT],
                bk.frames[class::CONTROL],
                bk.bytes[class::CONTROL],
            ));
        }
        s
    }
}
