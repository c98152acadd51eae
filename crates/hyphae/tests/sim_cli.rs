//! `hyphae sim run` end to end: the binary reads a scenario, applies `--set`, and writes JSON,
//! CSV, plots and the edge list; same seed, same bytes.

#![allow(missing_docs, clippy::unwrap_used)]

use std::process::Command;

fn hyphae() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hyphae"))
}

#[test]
fn sim_run_writes_every_output_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/routing.toml");
    let run = |json: &str| {
        let out = hyphae()
            .args([
                "sim",
                "run",
                scenario,
                "--set",
                "nodes=40",
                "--set",
                "duration=60",
            ])
            .args([
                "--set",
                "warmup=10",
                "--seed",
                "3",
                "--reproducible",
                "--quiet",
            ])
            .arg("--json")
            .arg(dir.path().join(json))
            .arg("--csv")
            .arg(dir.path().join("ts.csv"))
            .arg("--plots")
            .arg(dir.path().join("plots"))
            .arg("--edges")
            .arg(dir.path().join("edges.txt"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(dir.path().join(json)).unwrap()
    };
    let a = run("a.json");
    let b = run("b.json");
    assert_eq!(a, b, "same seed, same JSON");
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    for field in [
        "nodes",
        "edges",
        "sim_seconds",
        "wall_seconds",
        "sent",
        "delivered",
        "failed",
        "delivery_ratio",
        "latency_ms_mean",
        "latency_ms_p99",
        "mean_hops",
        "mean_shortest_hops",
        "stretch",
        "transmissions_per_delivered",
        "control_bytes_per_node_per_min",
        "peak_node_ram_bytes",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
    assert_eq!(v["seed"], 3);
    assert!(v["sent"].as_u64().unwrap() > 10);
    assert!(v["routing_note"].as_str().unwrap().contains("simulator"));
    let csv = std::fs::read_to_string(dir.path().join("ts.csv")).unwrap();
    assert!(csv.starts_with("t_s,sent,delivered"));
    assert!(csv.lines().count() > 10);
    for p in ["delivery.svg", "overhead.svg", "topology.svg"] {
        let s = std::fs::read_to_string(dir.path().join("plots").join(p)).unwrap();
        assert!(s.starts_with("<svg"), "{p}");
    }
    let edges = std::fs::read_to_string(dir.path().join("edges.txt")).unwrap();
    assert!(edges.lines().filter(|l| !l.starts_with('#')).count() > 40);
}

#[test]
fn sim_run_rejects_bad_input_clearly() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/bulk.toml");
    let out = hyphae()
        .args(["sim", "run", scenario, "--set", "loss=2", "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loss"), "{err}");
    let out = hyphae()
        .args(["sim", "run", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent"));
}
