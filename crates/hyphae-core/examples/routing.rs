//! Tree routing against managed flooding on random geometric graphs of real nodes (the
//! virtual-clock harness of the integration tests: ESP-NOW v1 airtime, carrier sense, no
//! collisions). Per mode: delivery, path stretch against BFS (from `Delivery::hop_limit_left`),
//! frames put on the air per delivered message, control bytes per node per minute and routing
//! state per node. Name resolution: `oracle` seeds the sender's and the receiver's name caches
//! before each send (routing alone); `gossip` relies on position announcements.
//!
//! `cargo run --release -p hyphae-core --example routing -- [nodes] [degree] [messages] [seed]`

#[path = "../tests/common/harness.rs"]
mod harness;

use core::time::Duration;
use std::collections::VecDeque;

use harness::{Channel, Rng, World, node_id};
use hyphae_core::{Config, Event, Metric, Routing};

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// Unit-disk graph in the unit square, radius for the target mean degree; `None` unless
/// connected.
fn rgg(n: usize, degree: f64, rng: &mut Rng) -> Option<Vec<Vec<usize>>> {
    let f = |rng: &mut Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let pts: Vec<(f64, f64)> = (0..n).map(|_| (f(rng), f(rng))).collect();
    let r2 = degree / (std::f64::consts::PI * n as f64);
    let mut adj = vec![Vec::new(); n];
    for i in 0..n {
        for j in 0..n {
            let d = (pts[i].0 - pts[j].0).powi(2) + (pts[i].1 - pts[j].1).powi(2);
            if i != j && d <= r2 {
                adj[i].push(j);
            }
        }
    }
    (bfs(&adj, 0).iter().all(|&d| d != u32::MAX)).then_some(adj)
}

fn bfs(adj: &[Vec<usize>], s: usize) -> Vec<u32> {
    let mut d = vec![u32::MAX; adj.len()];
    d[s] = 0;
    let mut q = VecDeque::from([s]);
    while let Some(u) = q.pop_front() {
        for &v in &adj[u] {
            if d[v] == u32::MAX {
                d[v] = d[u] + 1;
                q.push_back(v);
            }
        }
    }
    d
}

struct Row {
    name: &'static str,
    sent: usize,
    delivered: usize,
    failed: usize,
    stretch: f64,
    frames_per_msg: f64,
    data_per_msg: f64,
    control_per_node_min: f64,
    state: f64,
    state_max: usize,
}

fn run(
    name: &'static str,
    adj: &[Vec<usize>],
    config: Config,
    oracle: bool,
    pairs: &[(usize, usize)],
    seed: u64,
) -> Row {
    let n = adj.len();
    let mut w = World::new(n, config, Channel::PERFECT, seed);
    w.hears = adj.to_vec();
    let app = w.register_all("bench");
    w.settle();
    let warmup = w.now + Duration::from_secs(60);
    w.run_until(warmup, |w| w.nodes.iter().all(|n| n.tree_attached()));
    // Let announcements settle, then measure from here.
    let deadline = w.now + Duration::from_secs(20);
    w.run_until(deadline, |_| false);
    let start = w.now;
    let data_frames = |w: &World| -> u64 {
        w.nodes
            .iter()
            .map(|x| x.counters().frames_out - x.counters().control_frames_out)
            .sum()
    };
    let frames0: u64 = w.frames_sent.iter().sum();
    let data0 = data_frames(&w);
    let control0: u64 = w.nodes.iter().map(|x| x.counters().control_bytes_out).sum();
    let log0 = w.log.len();
    let hop_limit = match config.routing {
        Routing::Flood { hop_limit, .. } => hop_limit,
        _ => config.hop_limit,
    };
    let mut ids = Vec::new();
    for &(a, b) in pairs {
        if oracle {
            let now = w.now;
            let (pa, pb) = (w.nodes[a].position(), w.nodes[b].position());
            w.nodes[a].learn_position(now, node_id(b), &pb);
            w.nodes[b].learn_position(now, node_id(a), &pa);
        }
        let now = w.now;
        let Ok(id) = w.nodes[a].send(now, app, node_id(b), &[a as u8; 100]) else {
            continue;
        };
        ids.push((a, b, id));
        let d = w.now + Duration::from_millis(500);
        w.run_until(d, |_| false);
    }
    let deadline = w.now + Duration::from_secs(40);
    w.run_until(deadline, |w| {
        ids.iter().all(|&(a, _, id)| w.outcome(a, id).is_some())
    });
    let minutes = w.now.saturating_since(start).as_secs_f64() / 60.0;
    let frames: u64 = w.frames_sent.iter().sum::<u64>() - frames0;
    let data = data_frames(&w) - data0;
    let control: u64 = w
        .nodes
        .iter()
        .map(|x| x.counters().control_bytes_out)
        .sum::<u64>()
        - control0;
    let (mut hops, mut shortest, mut delivered, mut failed) = (0u64, 0u64, 0, 0);
    for &(a, b, id) in &ids {
        match w.outcome(a, id) {
            Some(Ok(_)) => {}
            _ => failed += 1,
        }
        let got = w.log[log0..].iter().find_map(|l| match l.event {
            Event::Delivered(d) if l.node == b && d.from == node_id(a) => Some(d.hop_limit_left),
            _ => None,
        });
        if let Some(left) = got {
            delivered += 1;
            hops += left.map_or(1, |h| u64::from(hop_limit - h) + 1);
            shortest += u64::from(bfs(adj, a)[b]);
        }
    }
    if std::env::var_os("VERBOSE").is_some() {
        let mut t = hyphae_core::RoutingStats::default();
        for x in &w.nodes {
            let s = x.routing_stats();
            t.flood_rebroadcasts += s.flood_rebroadcasts;
            t.flood_cancelled += s.flood_cancelled;
            t.flood_overflow += s.flood_overflow;
            t.flood_duplicates += s.flood_duplicates;
            t.hop_limit_drops += s.hop_limit_drops;
            t.backtracks += s.backtracks;
            t.unreachable += s.unreachable;
            t.greedy_forwards += s.greedy_forwards;
        }
        eprintln!("{name}: {t:?}");
        for &(a, b, id) in &ids {
            eprintln!("  {a}->{b} bfs {} {:?}", bfs(adj, a)[b], w.outcome(a, id));
        }
    }
    let states: Vec<usize> = w.nodes.iter().map(|x| x.routing_state_bytes()).collect();
    Row {
        name,
        sent: ids.len(),
        delivered,
        failed,
        stretch: hops as f64 / shortest.max(1) as f64,
        frames_per_msg: frames as f64 / delivered.max(1) as f64,
        data_per_msg: data as f64 / delivered.max(1) as f64,
        control_per_node_min: control as f64 / n as f64 / minutes.max(1e-9),
        state: states.iter().sum::<usize>() as f64 / n as f64,
        state_max: states.iter().copied().max().unwrap_or(0),
    }
}

fn main() {
    let n = arg(1, 60) as usize;
    let degree = arg(2, 8) as f64;
    let messages = arg(3, 40) as usize;
    let seed = arg(4, 7);
    let mut rng = Rng::new(seed);
    let adj = loop {
        if let Some(a) = rgg(n, degree, &mut rng) {
            break a;
        }
    };
    let mean = adj.iter().map(Vec::len).sum::<usize>() as f64 / n as f64;
    let pairs: Vec<(usize, usize)> = (0..messages)
        .map(|_| {
            loop {
                let a = rng.below(n as u64) as usize;
                let b = rng.below(n as u64) as usize;
                if a != b && !adj[a].contains(&b) {
                    break (a, b);
                }
            }
        })
        .collect();
    let tree = |announce_hops| Config {
        routing: Routing::Tree {
            trees: 3,
            metric: Metric::TreeDistance,
            announce_hops,
        },
        ..Config::default()
    };
    let cpl = Config {
        routing: Routing::Tree {
            trees: 3,
            metric: Metric::CommonPrefix,
            announce_hops: 0,
        },
        ..Config::default()
    };
    let one = Config {
        routing: Routing::Tree {
            trees: 1,
            metric: Metric::TreeDistance,
            announce_hops: 0,
        },
        ..Config::default()
    };
    let flood = Config {
        routing: Routing::FLOOD,
        ..Config::default()
    };
    println!(
        "random geometric graph: {n} nodes, mean degree {mean:.1}, {messages} messages of 100 B \
         between non-neighbours, seed {seed}\n"
    );
    println!(
        "| mode | delivered | sender told failed | stretch | data frames / delivered | \
         all frames / delivered | control B / node / min | routing state B / node (max) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, config, oracle) in [
        ("tree, 3 trees, tree distance, oracle names", tree(0), true),
        ("tree, 3 trees, CPL, oracle names", cpl, true),
        ("tree, 1 tree, tree distance, oracle names", one, true),
        ("tree, 3 trees, gossip names (15 hops)", tree(15), false),
        ("managed flooding, hop limit 7", flood, false),
    ] {
        let r = run(name, &adj, config, oracle, &pairs, seed);
        println!(
            "| {} | {}/{} | {} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} ({}) |",
            r.name,
            r.delivered,
            r.sent,
            r.failed,
            r.stretch,
            r.data_per_msg,
            r.frames_per_msg,
            r.control_per_node_min,
            r.state,
            r.state_max
        );
    }
}
