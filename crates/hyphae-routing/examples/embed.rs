//! Algorithm harness: build the trees on random graphs by message passing between per-node
//! `Router`s, then measure greedy delivery, stretch against BFS, and repair after crashes.
//!
//! `cargo run --release -p hyphae-routing --example embed -- --nodes 1000 --graph rgg --degree 10`

mod harness;

use harness::{Mode, Net, ba, depth, measure, rgg};
use hyphae_routing::Metric;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = arg(&args, "--nodes", 1000);
    let graph: String = arg(&args, "--graph", "rgg".to_string());
    let degree: f64 = arg(&args, "--degree", 10.0);
    let pairs: usize = arg(&args, "--pairs", 2000);
    let seed: u64 = arg(&args, "--seed", 42);
    let crash: f64 = arg(&args, "--crash", 0.10);
    let g = match graph.as_str() {
        "ba" => ba(nodes, 3, seed),
        _ => rgg(nodes, degree, seed),
    };
    println!(
        "graph {graph} n={} mean degree {:.1} (seed {seed})",
        g.adj.len(),
        g.mean_degree()
    );
    let mut net = Net::new(g, 5, seed);
    let rounds = net.converge(arg(&args, "--rounds", 400));
    if args.iter().any(|a| a == "--churn") {
        for _ in 0..10 {
            for _ in 0..10 {
                net.round();
            }
            let s = net.routers.iter().fold((0, 0, 0, 0), |a, r| {
                let x = r.stats();
                (
                    a.0 + x.reparents,
                    a.1 + x.renumbers,
                    a.2 + x.root_losses,
                    a.3 + x.claims,
                )
            });
            println!(
                "t={:?} reparents {} renumbers {} root losses {} claims {}",
                net.now, s.0, s.1, s.2, s.3
            );
        }
    }
    for t in 0..5 {
        println!("{}", harness::diagnose(&net, t));
    }
    println!(
        "converged after {rounds:?} beacon intervals; tree messages per node {:.1}",
        net.tree_msgs as f64 / net.routers.len() as f64
    );
    for t in 0..5 {
        let (m, x) = depth(&net, t);
        print!("tree {t} depth mean {m:.2} max {x}; ");
    }
    println!();
    // Control overhead in steady state: beacon tree entries (3 trees) and tree messages.
    let comp = net.component();
    let entry_bytes: usize = comp
        .iter()
        .map(|&u| {
            net.routers[u]
                .beacon_entries()
                .take(3)
                .map(|e| {
                    hyphae_routing::TreeEntry::default().root.0.len()
                        + 3
                        + hyphae_routing::Address::Coords(e.coords).buffer_len()
                })
                .sum::<usize>()
        })
        .sum();
    let before_msgs = net.tree_msgs;
    for _ in 0..60 {
        net.round();
    }
    println!(
        "steady state: beacon tree entries for 3 trees {:.1} bytes per beacon (= {:.0} bytes per node per minute at 1 beacon/s); tree messages per node per minute {:.2}",
        entry_bytes as f64 / comp.len() as f64,
        60.0 * entry_bytes as f64 / comp.len() as f64,
        (net.tree_msgs - before_msgs) as f64 / comp.len() as f64
    );
    println!("| trees | metric | mode | delivery | stretch | tx/route |");
    let quick = args.iter().any(|a| a == "--quick");
    for metric in [Metric::TreeDistance, Metric::CommonPrefix] {
        if quick && metric == Metric::CommonPrefix {
            continue;
        }
        for trees in [1usize, 2, 3, 5] {
            for mode in [Mode::Parallel, Mode::SourceTree, Mode::AllTrees] {
                if trees == 1 && mode != Mode::Parallel {
                    continue;
                }
                let f = measure(&mut net, pairs, trees, mode, metric, false, seed ^ 7);
                println!(
                    "| {trees} | {metric:?} | {mode:?} | {:.4} | {:.3} | {:.1} |",
                    f.delivery(),
                    f.stretch(),
                    f.transmissions as f64 / f.delivered.max(1) as f64
                );
            }
        }
    }
    let comp = net.component();
    for hops in [6u8, 15] {
        let (mut cov, mut tx) = (0.0, 0);
        for i in 0..10 {
            let (c, t) = harness::gossip_flood(&net, comp[i * comp.len() / 10], hops);
            cov += c / 10.0;
            tx += t;
        }
        println!(
            "gossip flood, hop limit {hops}: coverage {:.3}, transmissions per message {:.0} ({:.2} per covered node)",
            cov,
            tx as f64 / 10.0,
            tx as f64 / 10.0 / (cov * comp.len() as f64)
        );
    }
    if quick {
        return;
    }
    // Crash a fraction of the nodes at once.
    let dead = net.crash(crash);
    println!("crashed {} nodes ({:.0} %)", dead.len(), crash * 100.0);
    // Static embedding, neighbours informed at once (ROUTING.md §4.2 model).
    let mut stat = Net::snapshot_of(&net);
    stat.notify_dead();
    println!(
        "| static after crash | trees | mode | delivery no-bt | delivery bt | stretch bt | tx/route bt |"
    );
    for trees in [1usize, 3, 5] {
        for mode in [Mode::Parallel, Mode::AllTrees] {
            let a = measure(
                &mut stat,
                pairs,
                trees,
                mode,
                Metric::TreeDistance,
                false,
                seed ^ 9,
            );
            let b = measure(
                &mut stat,
                pairs,
                trees,
                mode,
                Metric::TreeDistance,
                true,
                seed ^ 9,
            );
            println!(
                "| | {trees} | {mode:?} | {:.4} | {:.4} | {:.3} | {:.1} |",
                a.delivery(),
                b.delivery(),
                b.stretch(),
                b.transmissions as f64 / b.delivered.max(1) as f64
            );
        }
    }
    // Repair: neighbours detect the loss from missed beacons, trees repair locally.
    println!(
        "| seconds after crash | delivery (3 trees, all-trees, backtracking) | stretch | tx/route |"
    );
    let max_rounds: u64 = arg(&args, "--repair-rounds", 300);
    let mut repaired = None;
    let mut first_99 = None;
    let control_before = net.tree_msgs;
    for r in 0..=max_rounds {
        if r <= 30 && (r % 5 == 0 || r < 5) || r == 60 {
            let f = measure(
                &mut net,
                pairs / 2,
                3,
                Mode::AllTrees,
                Metric::TreeDistance,
                true,
                seed ^ r,
            );
            if first_99.is_none() && f.delivery() >= 0.99 {
                first_99 = Some(r);
            }
            println!(
                "| {r} | {:.4} | {:.3} | {:.1} |",
                f.delivery(),
                f.stretch(),
                f.transmissions as f64 / f.delivered.max(1) as f64
            );
        }
        if repaired.is_none() && r > 0 && net.converged() && net.consistent() {
            repaired = Some(r);
        }
        if repaired.is_some() && r >= 60 {
            break;
        }
        net.round();
    }
    println!(
        "delivery >= 99 % from {first_99:?} s; full repair (one root per tree, every node attached, coordinates consistent) at {repaired:?} s; tree messages per surviving node during repair {:.1}",
        (net.tree_msgs - control_before) as f64 / net.component().len() as f64
    );
    for t in 0..5 {
        println!("{}", harness::diagnose(&net, t));
    }
    let f = measure(
        &mut net,
        pairs,
        3,
        Mode::AllTrees,
        Metric::TreeDistance,
        false,
        seed ^ 11,
    );
    println!(
        "after repair, 3 trees all-trees no-bt: delivery {:.4} stretch {:.3}",
        f.delivery(),
        f.stretch()
    );
    use hyphae_routing::{
        Forwarder, OpenPolicy, Router, gossip::Gossip, names::NameCache, service::Services,
    };
    println!("| state | bytes |");
    println!(
        "| Router<K=3 trees, N=16 neighbours, L=4 leases> | {} |",
        size_of::<Router<OpenPolicy, 3, 16, 4>>()
    );
    println!(
        "| Router<K=3, N=32, L=4> | {} |",
        size_of::<Router<OpenPolicy, 3, 32, 4>>()
    );
    println!(
        "| Router<K=5, N=64, L=1> (this harness) | {} |",
        size_of::<harness::R>()
    );
    println!(
        "| Forwarder<16> (backtracking cache) | {} |",
        size_of::<Forwarder<16>>()
    );
    println!(
        "| NameCache<K=3, 32 entries> | {} |",
        size_of::<NameCache<3, 32>>()
    );
    println!(
        "| Gossip<64 seen, 4 stored> | {} |",
        size_of::<Gossip<64, 4>>()
    );
    println!("| Services<16> | {} |", size_of::<Services<16>>());
}
