//! Graph scenarios: per-node routers on random graphs, driven by message passing.

#[path = "../examples/harness/mod.rs"]
mod harness;

use harness::{Mode, Net, ba, measure, rgg};
use hyphae_routing::Metric;

#[test]
fn rgg_converges_delivers_everything_and_repairs() {
    let g = rgg(150, 10.0, 3);
    let mut net = Net::new(g, 3, 3);
    assert!(net.converge(200).is_some(), "no convergence");
    assert!(net.consistent());
    for metric in [Metric::TreeDistance, Metric::CommonPrefix] {
        for mode in [Mode::Parallel, Mode::SourceTree, Mode::AllTrees] {
            let f = measure(&mut net, 300, 3, mode, metric, false, 1);
            assert_eq!(f.delivery(), 1.0, "{metric:?} {mode:?}");
            assert!(f.stretch() < 1.3, "{metric:?} {mode:?} {}", f.stretch());
        }
    }
    net.crash(0.10);
    assert!(net.repair(120).is_some(), "no repair");
    for _ in 0..10 {
        net.round();
    }
    let f = measure(
        &mut net,
        300,
        3,
        Mode::AllTrees,
        Metric::TreeDistance,
        false,
        2,
    );
    assert_eq!(f.delivery(), 1.0);
}

#[test]
fn ba_converges_and_delivers() {
    let g = ba(200, 3, 5);
    let mut net = Net::new(g, 3, 5);
    assert!(net.converge(200).is_some());
    let f = measure(
        &mut net,
        300,
        3,
        Mode::AllTrees,
        Metric::TreeDistance,
        false,
        1,
    );
    assert_eq!(f.delivery(), 1.0);
}

/// Greedy strictly decreases the carried distance, so a frame never needs more hops than the
/// source's distance in its tree.
#[test]
fn greedy_never_exceeds_the_tree_distance() {
    let g = rgg(120, 10.0, 9);
    let mut net = Net::new(g, 3, 9);
    assert!(net.converge(200).is_some());
    let comp = net.component();
    for (i, &s) in comp.iter().enumerate().take(40) {
        let d = comp[(i * 7 + 3) % comp.len()];
        if s == d {
            continue;
        }
        let dest = net.dest(d, 3);
        let td = hyphae_routing::metric::tree_distance(
            &net.routers[s].coords(0).unwrap(),
            &dest[0].unwrap(),
        );
        let hops = net
            .walk(s, d, 0, &dest, Metric::TreeDistance, false, 255)
            .unwrap();
        assert!(hops <= td, "{hops} > {td}");
    }
}
