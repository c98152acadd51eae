//! hyphae's discrete-event simulator.
//!
//! Thousands of real [`hyphae_core::Node`]s — the very state machine the firmware and the host
//! shell run, never a model of it — on a virtual clock, joined by modelled radios:
//! ESP-NOW with carrier sense and hidden-terminal collisions, LoRa (RYLR-998) with the
//! Semtech time-on-air formula and duty cycle, and a UDP LAN; half-duplex radios; per-link
//! loss, duplication, reordering and bit corruption; unit-disk or log-distance path-loss
//! range. Topologies: line, grid, random geometric, Barabási–Albert, edge-list files.
//! Scenarios (TOML) add traffic, crashes, restarts, cuts and partitions; a run produces a
//! JSON summary, a CSV time series and SVG plots. Same scenario and seed → identical output.
//!
//! ```no_run
//! let sc = hyphae_sim::Scenario::load("scenarios/bulk.toml".as_ref(), &["loss=0.1".into()])?;
//! let out = hyphae_sim::run(&sc, &hyphae_sim::Options::default())?;
//! println!("{}", out.report.delivery_ratio);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod radio;
pub mod rng;
pub mod scenario;
pub mod stats;
pub mod svg;
pub mod topology;

mod report;
mod traffic;
mod world;

use std::fmt;
use std::time::Duration;

use hyphae_core::Config;
use hyphae_core::config::{Metric, Routing};

pub use report::{FailureReport, Report};
pub use scenario::{Action, Scenario, ScenarioError, Traffic};
pub use topology::{Graph, TopologyError};
pub use world::{index_of, link_addr, node_id};

use radio::Radio;
use rng::Rng;
use world::World;

/// The application every simulated node runs.
pub const APP_NAME: &str = "hyphae/sim";

/// Node capacities for radios with frames up to 250 bytes and messages up to 8 KiB.
pub type SmallNode = hyphae_core::Node<32, 4, 16_384, 8_192, 250>;
/// [`SmallNode`] with a 256-entry peer table, for graphs with hubs (`peers = 256`).
pub type WideNode = hyphae_core::Node<256, 4, 16_384, 8_192, 250>;
/// Node capacities for bulk transfers up to 64 KiB and frames up to 1470 bytes.
pub type LargeNode = hyphae_core::Node<32, 8, 67_584, 67_584, 1470>;

/// Largest message the small profile carries.
pub const SMALL_MAX_MESSAGE: usize = 8 * 1024;
/// Largest message the simulator carries.
pub const LARGE_MAX_MESSAGE: usize = 64 * 1024;

/// Why a run could not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// The scenario is invalid.
    Scenario(ScenarioError),
    /// The topology could not be built.
    Topology(TopologyError),
    /// The scenario asks for something this build cannot simulate.
    Unsupported(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scenario(e) => e.fmt(f),
            Self::Topology(e) => write!(f, "topology: {e}"),
            Self::Unsupported(e) => write!(f, "unsupported: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<ScenarioError> for SimError {
    fn from(e: ScenarioError) -> Self {
        Self::Scenario(e)
    }
}

impl From<TopologyError> for SimError {
    fn from(e: TopologyError) -> Self {
        Self::Topology(e)
    }
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Everything a run produces.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The summary.
    pub report: Report,
    /// The time series.
    pub csv: String,
    /// Plots: (file name, SVG text).
    pub plots: Vec<(String, String)>,
    /// The topology as an edge list (so other simulators can run the same graph).
    pub edge_list: String,
}

/// Build the scenario's topology.
pub fn build_topology(sc: &Scenario) -> Result<Graph, SimError> {
    let mut rng = Rng::new(sc.seed, 1);
    let n = sc.node_count();
    // Geometric layouts put neighbours 80 % of the radio range apart.
    let spacing = sc.radio_range * 0.8;
    Ok(match sc.topology.as_str() {
        "line" => Graph::line(n, spacing)?,
        "grid" => Graph::grid(n, spacing)?,
        "rgg" => Graph::rgg(n, sc.degree, sc.radio_range, &mut rng)?,
        "ba" => Graph::barabasi_albert(n, sc.ba_m, &mut rng)?,
        path => Graph::from_file(std::path::Path::new(path))?,
    })
}

/// The node configuration a scenario implies.
pub fn node_config(sc: &Scenario, max_transfer: usize) -> Config {
    let radio = Radio::from_scenario(sc);
    let mut c = Config {
        beacon_interval: Duration::from_secs_f64(sc.beacon_interval),
        link_retries: if radio.reports_tx() {
            sc.link_retries
        } else {
            0
        },
        window: sc.window,
        ack_every: sc.ack_every.min(sc.window),
        pacing: Duration::from_secs_f64(sc.pacing_ms / 1000.0),
        e2e: sc.e2e,
        max_transfer,
        // Large random graphs have diameters far beyond the default 16.
        hop_limit: 100,
        ..Config::default()
    };
    c.routing = match sc.router.as_str() {
        "tree" => Routing::Tree {
            trees: sc.trees,
            metric: if sc.metric == "cpl" {
                Metric::CommonPrefix
            } else {
                Metric::TreeDistance
            },
            announce_hops: sc.announce_hops,
        },
        "flood" => match Routing::FLOOD {
            Routing::Flood { contention, .. } => Routing::Flood {
                hop_limit: sc.flood_hop_limit,
                contention,
            },
            other => other,
        },
        _ => Routing::Static,
    };
    if let Radio::Lora { .. } = radio {
        // Frames take a second on air: timers in seconds, not milliseconds.
        c.rto_initial = Duration::from_secs(5);
        c.rto_per_hop = Duration::from_secs(4);
        c.rto_min = Duration::from_secs(2);
        c.rto_max = Duration::from_secs(120);
        c.ack_delay = Duration::from_millis(200);
        c.transfer_timeout = Duration::from_secs(900);
        c.resume_window = Duration::from_secs(1800);
        c.route_wait = Duration::from_secs(120);
    }
    c
}

/// Run a scenario to its end.
pub fn run(sc: &Scenario, opts: &Options) -> Result<Outcome, SimError> {
    sc.validate()?;
    let graph = build_topology(sc)?;
    let radio = Radio::from_scenario(sc);
    let biggest = sc
        .traffic
        .iter()
        .map(|t| match t {
            Traffic::Bulk { size, .. }
            | Traffic::Pairs { size, .. }
            | Traffic::Sensor { size, .. } => size.unwrap_or(sc.size),
        })
        .max()
        .unwrap_or(sc.size);
    if biggest > LARGE_MAX_MESSAGE {
        return Err(SimError::Unsupported(format!(
            "messages of {biggest} bytes: simulated nodes admit at most {LARGE_MAX_MESSAGE}"
        )));
    }
    if radio.mtu() <= 250 && biggest <= SMALL_MAX_MESSAGE && sc.peers > 32 {
        let w: World<256, 4, 16_384, 8_192, 250> =
            World::new(sc.clone(), graph, node_config(sc, SMALL_MAX_MESSAGE));
        Ok(finish(w, opts))
    } else if radio.mtu() <= 250 && biggest <= SMALL_MAX_MESSAGE {
        let w: World<32, 4, 16_384, 8_192, 250> =
            World::new(sc.clone(), graph, node_config(sc, SMALL_MAX_MESSAGE));
        Ok(finish(w, opts))
    } else {
        let w: World<32, 8, 67_584, 67_584, 1470> =
            World::new(sc.clone(), graph, node_config(sc, LARGE_MAX_MESSAGE));
        Ok(finish(w, opts))
    }
}

fn finish<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>(
    mut w: World<P, T, IN, OUT, M>,
    opts: &Options,
) -> Outcome {
    w.plan();
    let end = (w.sc.duration * 1e6) as u64;
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(end / 1000);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} sim {pos}/{len} ms [{bar:40}] {per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    w.run(end, |now, events| {
        bar.set_position(now / 1000);
        bar.set_message(format!("{events} events"));
    });
    bar.finish_and_clear();
    let report = w.report();
    let csv = w.csv();
    let plots = plots(&w, &report, &csv);
    Outcome {
        report,
        csv,
        plots,
        edge_list: w.graph.to_edge_list(),
    }
}

fn plots<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>(
    w: &World<P, T, IN, OUT, M>,
    r: &Report,
    csv: &str,
) -> Vec<(String, String)> {
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let bucket_min = w.stats.bucket_us as f64 / 60e6;
    let n = w.slots.len().max(1) as f64;
    let delivery: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.len() > 3 && r[3].is_finite())
        .map(|r| (r[0], r[3]))
        .collect();
    let overhead: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.len() > 7)
        .map(|r| (r[0], r[7] / n / bucket_min))
        .collect();
    let data: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.len() > 7)
        .map(|r| (r[0], (r[4] + r[5]) / n / bucket_min))
        .collect();
    let title = format!(
        "{} — {} nodes, {} router, {}",
        r.scenario, r.nodes, r.router, r.link
    );
    let dead: Vec<bool> = w.slots.iter().map(|s| !s.alive).collect();
    let edges: Vec<(usize, usize)> = w.graph.edges().collect();
    vec![
        (
            "delivery.svg".into(),
            svg::line_chart(
                &format!("Delivery ratio by send time — {title}"),
                "simulated time (s)",
                "delivered / sent",
                &[svg::Series {
                    name: "delivery ratio".into(),
                    colour: "#1565c0",
                    points: delivery,
                }],
                Some(1.05),
            ),
        ),
        (
            "overhead.svg".into(),
            svg::line_chart(
                &format!("Overhead — {title}"),
                "simulated time (s)",
                "per node per minute",
                &[
                    svg::Series {
                        name: "mesh-control bytes".into(),
                        colour: "#c62828",
                        points: overhead,
                    },
                    svg::Series {
                        name: "data+transport frames".into(),
                        colour: "#2e7d32",
                        points: data,
                    },
                ],
                None,
            ),
        ),
        (
            "topology.svg".into(),
            svg::topology(
                &format!(
                    "{} nodes, {} links (red: crashed at the end)",
                    r.nodes, r.edges
                ),
                &w.graph.layout(),
                &edges,
                &dead,
            ),
        ),
    ]
}
