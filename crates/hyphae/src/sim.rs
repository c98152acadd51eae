//! `hyphae sim`: run simulator scenarios (`hyphae-sim`).
//!
//! `hyphae sim run SCENARIO.toml [--set key=value]... [--seed N] [--json OUT.json]
//! [--csv OUT.csv] [--plots DIR] [--edges OUT.txt] [--reproducible] [--quiet]`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use hyphae_sim::{Options, Scenario};

/// Arguments of `hyphae sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run a scenario file and write its report.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The scenario (TOML; see scenarios/ and docs/spec/simulator.md).
    scenario: PathBuf,
    /// Override a scenario parameter (repeatable): `--set nodes=1000 --set loss=0.1`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Seed (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the JSON summary here (default: standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the time series as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write SVG plots (delivery, overhead, topology) into this directory.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Write the topology as an edge list (for other simulators) here.
    #[arg(long)]
    edges: Option<PathBuf>,
    /// Zero the wall-clock fields so two runs give byte-identical JSON.
    #[arg(long)]
    reproducible: bool,
    /// No progress bar and no summary on standard error.
    #[arg(long)]
    quiet: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Run(a) => run_one(a),
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn run_one(a: &RunArgs) -> anyhow::Result<()> {
    let mut sets = a.sets.clone();
    if let Some(seed) = a.seed {
        sets.push(format!("seed={seed}"));
    }
    let sc = Scenario::load(&a.scenario, &sets)?;
    let progress = !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let t0 = Instant::now();
    let mut out = hyphae_sim::run(&sc, &Options { progress })?;
    let wall = t0.elapsed().as_secs_f64();
    if !a.reproducible {
        out.report.wall_seconds = (wall * 1000.0).round() / 1000.0;
        out.report.events_per_wall_second = (out.report.events as f64 / wall.max(1e-9)).round();
        out.report.peak_rss_bytes = peak_rss();
    }
    let json = serde_json::to_string_pretty(&out.report)? + "\n";
    match &a.json {
        Some(p) => std::fs::write(p, &json).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{json}"),
    }
    if let Some(p) = &a.csv {
        std::fs::write(p, &out.csv).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(dir) = &a.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, svg) in &out.plots {
            let p = dir.join(name);
            std::fs::write(&p, svg).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    if let Some(p) = &a.edges {
        std::fs::write(p, &out.edge_list).with_context(|| format!("writing {}", p.display()))?;
    }
    if !a.quiet {
        let r = &out.report;
        eprintln!(
            "{}: {} nodes, {} links, {} router over {} — {:.0} simulated s in {:.1} s wall ({} events)",
            r.scenario, r.nodes, r.edges, r.router, r.link, r.sim_seconds, wall, r.events
        );
        eprintln!(
            "  delivered {}/{} ({:.2} %; {:.2} % of connected pairs), latency mean {:.1} ms p99 {:.1} ms, stretch {:.3}",
            r.delivered,
            r.sent,
            100.0 * r.delivery_ratio,
            100.0 * r.delivery_ratio_connected,
            r.latency_ms_mean,
            r.latency_ms_p99,
            r.stretch
        );
        if let Some(g) = r.goodput_ratio {
            eprintln!(
                "  goodput {:.1} kbit/s of {:.1} kbit/s limit: ratio {:.3}",
                r.goodput_bps.unwrap_or(0.0) / 1e3,
                r.goodput_limit_bps.unwrap_or(0.0) / 1e3,
                g
            );
        }
    }
    Ok(())
}
