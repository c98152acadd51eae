//! Scenario files: TOML describing the network, the radio, the traffic and what happens when.
//!
//! Every field has a default, so a scenario names only what it changes; `--set key=value`
//! overrides any field before the file is interpreted (dotted keys reach into tables and
//! arrays: `--set traffic.0.size=1024`). Unknown keys are errors, so a typo never silently
//! runs the default. The normative description is `docs/spec/simulator.md`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a scenario could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioError {
    /// The file could not be read.
    Io(String),
    /// The TOML does not parse or does not match the schema.
    Parse(String),
    /// A `--set` argument is not `key=value` or names a path that cannot exist.
    Set(String),
    /// A value is out of range (field, reason).
    Invalid(&'static str, String),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read scenario: {e}"),
            Self::Parse(e) => write!(f, "scenario: {e}"),
            Self::Set(e) => write!(f, "--set: {e}"),
            Self::Invalid(field, why) => write!(f, "scenario field `{field}`: {why}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// One simulation run, as read from a scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: String,
    /// Seed of every random choice (topology, radio, traffic, node PRNGs).
    pub seed: u64,
    /// Simulated seconds to run.
    pub duration: f64,
    /// Seconds before traffic starts (neighbours and trees form meanwhile).
    pub warmup: f64,
    /// Seconds at the end without new periodic traffic, so late messages can finish.
    pub cooldown: f64,
    /// Radio: `espnow` (ESP-NOW v1, 250 B), `espnow-v2` (1470 B), `lora` (RYLR-998), `udp`.
    pub link: String,
    /// ESP-NOW PHY rate in Mbit/s.
    pub phy_rate: f64,
    /// LoRa modem parameters.
    pub lora: LoraParams,
    /// Probability that a frame is lost on a link (on top of collisions and path loss).
    pub loss: f64,
    /// Probability that a received frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a received frame is held back (reordered) by up to `reorder_ms`.
    pub reorder: f64,
    /// Largest extra delay of a reordered frame, in milliseconds.
    pub reorder_ms: f64,
    /// Probability that a received frame has one bit flipped.
    pub corrupt: f64,
    /// Overlapping transmissions at a receiver destroy each other (radios only).
    pub collisions: bool,
    /// Range model: `disk` (every edge of the graph is a link) or `pathloss` (log-distance
    /// path loss with a loss curve over geometric topologies).
    pub range: String,
    /// Nominal radio range in metres (geometric topologies are scaled to it).
    pub radio_range: f64,
    /// Carrier-sense and interference range as a multiple of `radio_range` (geometric
    /// topologies): nodes this close sense and disturb each other's frames without being able
    /// to decode them. 1 = only linked neighbours interact.
    pub sense_range: f64,
    /// Topology: `line`, `grid`, `rgg`, `ba`, or a path to an edge-list file.
    pub topology: String,
    /// Node count (for `rgg`, before keeping the largest component).
    pub nodes: usize,
    /// For `line`: when set, the line has `hops + 1` nodes (overrides `nodes`).
    pub hops: Option<usize>,
    /// Mean degree of `rgg`.
    pub degree: f64,
    /// Edges each new Barabási–Albert node attaches with.
    pub ba_m: usize,
    /// Router: `static` (shortest paths installed by the simulator as static routes),
    /// `tree` or `flood` (when the core supports them).
    pub router: String,
    /// Spanning trees of the tree router.
    pub trees: u8,
    /// Tree router metric: `tree` (tree distance) or `cpl` (common prefix length).
    pub metric: String,
    /// Tree router name resolution: `gossip` (only the nodes' own position announcements) or
    /// `oracle` (the sender's name cache is given the destination's current coordinates
    /// before each message, as a perfect directory would).
    pub names: String,
    /// Gossip hops of each node's position announcements (tree router name resolution).
    pub announce_hops: u8,
    /// Hop limit of the flooding router (Meshtastic's default is 7).
    pub flood_hop_limit: u8,
    /// Frame security on (the default): every node gets an identity, a credential and the
    /// network key; every frame is sealed and checked.
    pub security: bool,
    /// Nodes provisioned for *another* network (outsiders with their own key and admin),
    /// placed at random: they beacon and send like the others, and must be heard by no one.
    pub outsiders: usize,
    /// Seconds between neighbour beacons.
    pub beacon_interval: f64,
    /// Link-layer retries on a failed unicast (ESP-NOW send callback).
    pub link_retries: u8,
    /// Peer-table capacity of every node: 32 (an ESP32's `McuNode`) or 256 (for graphs with
    /// hubs, such as Barabási–Albert; small frames and messages only).
    pub peers: usize,
    /// Sequencer window in fragments.
    pub window: u16,
    /// Minimum gap between frames to one peer, milliseconds (the core's pacing; 0 = off).
    pub pacing_ms: f64,
    /// Seal every unicast send end to end (`Config::e2e`, off by default as in the core).
    pub e2e: bool,
    /// The sender requests an acknowledgement every this many fragments (at most `window`).
    pub ack_every: u16,
    /// Default payload size in bytes of traffic that names none.
    pub size: usize,
    /// Fraction of nodes that crash at once at `fail_at` (0 = none).
    pub fail_fraction: f64,
    /// When `fail_fraction` strikes, in seconds.
    pub fail_at: f64,
    /// Width of a time-series bucket in seconds (0 = duration / 100, at least 1 s).
    pub sample: f64,
    /// Traffic generators.
    pub traffic: Vec<Traffic>,
    /// Scheduled events.
    pub events: Vec<Action>,
}

/// LoRa modem parameters (RYLR-998 `AT+PARAMETER`) and the band's duty cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraParams {
    /// Spreading factor.
    pub sf: u8,
    /// Bandwidth in Hz.
    pub bw: u32,
    /// Coding rate 1..=4 (4/5..4/8).
    pub cr: u8,
    /// Preamble symbols.
    pub preamble: u8,
    /// Allowed fraction of airtime (EU868 g1: 0.01); 1 = none.
    pub duty_cycle: f64,
}

impl Default for LoraParams {
    fn default() -> Self {
        Self {
            sf: 9,
            bw: 125_000,
            cr: 1,
            preamble: 12,
            duty_cycle: 0.01,
        }
    }
}

/// A traffic generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Traffic {
    /// `count` blobs of `size` bytes from `from` to `to` (negative: counted from the end, -1
    /// is the last node), the next sent when the previous finished.
    Bulk {
        /// Source node index.
        #[serde(default)]
        from: i64,
        /// Destination node index.
        #[serde(default = "last")]
        to: i64,
        /// Bytes per blob (default: the scenario's `size`).
        #[serde(default)]
        size: Option<usize>,
        /// Blobs to send one after another.
        #[serde(default = "one")]
        count: u32,
    },
    /// Every node sends `per_node_per_min` messages a minute (Poisson) to uniformly random
    /// other nodes.
    Pairs {
        /// Messages per node per minute.
        #[serde(default = "one_f")]
        per_node_per_min: f64,
        /// Bytes per message (default: the scenario's `size`).
        #[serde(default)]
        size: Option<usize>,
    },
    /// Every non-gateway node sends a reading every `interval` seconds (jittered start) to
    /// the nearest (fewest hops) of `gateways` gateway nodes.
    Sensor {
        /// Seconds between readings of one node.
        #[serde(default = "sixty")]
        interval: f64,
        /// Number of gateways (spread over the node indices).
        #[serde(default = "one_usize")]
        gateways: usize,
        /// Bytes per reading (default: the scenario's `size`).
        #[serde(default)]
        size: Option<usize>,
    },
}

/// A scheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Nodes lose power: listed ones, or a random fraction of the live ones.
    Crash {
        /// Seconds.
        at: f64,
        /// Node indices.
        #[serde(default)]
        nodes: Vec<usize>,
        /// Random fraction of live nodes (used when `nodes` is empty).
        #[serde(default)]
        fraction: f64,
    },
    /// Crashed nodes boot again with empty state (listed ones, or every crashed node).
    Restart {
        /// Seconds.
        at: f64,
        /// Node indices (empty: all crashed nodes).
        #[serde(default)]
        nodes: Vec<usize>,
    },
    /// The link between two nodes stops carrying frames.
    Cut {
        /// Seconds.
        at: f64,
        /// One end.
        a: usize,
        /// The other end.
        b: usize,
    },
    /// Every link between the lower and the upper half of the node indices (by position
    /// along x where nodes have positions) is cut.
    Partition {
        /// Seconds.
        at: f64,
    },
    /// Every cut link works again.
    Heal {
        /// Seconds.
        at: f64,
    },
}

impl Action {
    /// When the action happens, in seconds.
    pub fn at(&self) -> f64 {
        match self {
            Self::Crash { at, .. }
            | Self::Restart { at, .. }
            | Self::Cut { at, .. }
            | Self::Partition { at }
            | Self::Heal { at } => *at,
        }
    }
}

fn last() -> i64 {
    -1
}
fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn one_usize() -> usize {
    1
}
fn sixty() -> f64 {
    60.0
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            name: "scenario".into(),
            seed: 1,
            duration: 60.0,
            warmup: 10.0,
            cooldown: 10.0,
            link: "espnow".into(),
            phy_rate: 1.0,
            lora: LoraParams::default(),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_ms: 20.0,
            corrupt: 0.0,
            collisions: true,
            range: "disk".into(),
            radio_range: 100.0,
            sense_range: 2.0,
            topology: "rgg".into(),
            nodes: 100,
            hops: None,
            degree: 10.0,
            ba_m: 3,
            router: "static".into(),
            trees: 3,
            metric: "tree".into(),
            names: "gossip".into(),
            announce_hops: 6,
            flood_hop_limit: 7,
            security: true,
            outsiders: 0,
            beacon_interval: 2.0,
            link_retries: 7,
            peers: 32,
            window: 32,
            pacing_ms: 0.0,
            e2e: false,
            ack_every: 8,
            size: 32,
            fail_fraction: 0.0,
            fail_at: 30.0,
            sample: 0.0,
            traffic: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// Largest node count a scenario may ask for.
pub const MAX_SCENARIO_NODES: usize = 200_000;
/// Longest simulated duration, in seconds (one week).
pub const MAX_DURATION: f64 = 7.0 * 86_400.0;

impl Scenario {
    /// Parse scenario TOML and apply `key=value` overrides.
    pub fn from_toml(text: &str, sets: &[String]) -> Result<Self, ScenarioError> {
        let mut value: toml::Table =
            toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        for s in sets {
            apply_set(&mut value, s)?;
        }
        let sc: Self = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ScenarioError::Parse(e.to_string()))?;
        sc.validate()?;
        Ok(sc)
    }

    /// Read a scenario file and apply overrides.
    pub fn load(path: &std::path::Path, sets: &[String]) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::Io(format!("{}: {e}", path.display())))?;
        let mut sc = Self::from_toml(&text, sets)?;
        // A relative edge-list path is relative to the scenario file.
        if !matches!(sc.topology.as_str(), "line" | "grid" | "rgg" | "ba") {
            let p = std::path::Path::new(&sc.topology);
            if p.is_relative()
                && !p.exists()
                && let Some(dir) = path.parent()
            {
                sc.topology = dir.join(p).display().to_string();
            }
        }
        Ok(sc)
    }

    /// Check every value is in range.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |f: &'static str, why: &str| Err(ScenarioError::Invalid(f, why.to_string()));
        let prob = |f: &'static str, p: f64| {
            if (0.0..1.0).contains(&p) {
                Ok(())
            } else {
                Err(ScenarioError::Invalid(f, format!("{p} is not in [0, 1)")))
            }
        };
        if !(self.duration > 0.0 && self.duration <= MAX_DURATION) {
            return bad("duration", "must be in (0, 604800] seconds");
        }
        if !(self.warmup >= 0.0 && self.warmup < self.duration) {
            return bad("warmup", "must be in [0, duration)");
        }
        if !(self.cooldown >= 0.0 && self.warmup + self.cooldown < self.duration) {
            return bad("cooldown", "must be >= 0 with warmup + cooldown < duration");
        }
        if !matches!(self.link.as_str(), "espnow" | "espnow-v2" | "lora" | "udp") {
            return bad("link", "must be espnow, espnow-v2, lora or udp");
        }
        if !(self.phy_rate >= 1.0 && self.phy_rate <= 150.0) {
            return bad("phy_rate", "must be in [1, 150] Mbit/s");
        }
        if !(self.lora.duty_cycle > 0.0 && self.lora.duty_cycle <= 1.0) {
            return bad("lora.duty_cycle", "must be in (0, 1]");
        }
        let modem = self.modem();
        if let Err(e) = modem.validate(18) {
            return Err(ScenarioError::Invalid("lora", e.to_string()));
        }
        prob("loss", self.loss)?;
        prob("duplicate", self.duplicate)?;
        prob("reorder", self.reorder)?;
        prob("corrupt", self.corrupt)?;
        prob("fail_fraction", self.fail_fraction)?;
        if !(self.reorder_ms >= 0.0 && self.reorder_ms <= 60_000.0) {
            return bad("reorder_ms", "must be in [0, 60000]");
        }
        if !matches!(self.range.as_str(), "disk" | "pathloss") {
            return bad("range", "must be disk or pathloss");
        }
        if !(self.radio_range > 0.0 && self.radio_range < 1e6) {
            return bad("radio_range", "must be positive metres");
        }
        if !(self.sense_range >= 1.0 && self.sense_range <= 10.0) {
            return bad(
                "sense_range",
                "must be in [1, 10] (a multiple of radio_range)",
            );
        }
        let n = self.node_count();
        if !(2..=MAX_SCENARIO_NODES).contains(&n) {
            return bad("nodes", "must be in 2..=200000");
        }
        if self.topology == "rgg" && !(self.degree > 0.0 && self.degree < n as f64) {
            return bad("degree", "must be in (0, nodes)");
        }
        if self.topology == "ba" && !(1..n).contains(&self.ba_m) {
            return bad("ba_m", "must be in 1..nodes");
        }
        if !matches!(self.router.as_str(), "static" | "tree" | "flood") {
            return bad("router", "must be static, tree or flood");
        }
        if !(1..=hyphae_core::node::MAX_TREES as u8).contains(&self.trees) {
            return bad("trees", "must be in 1..=5");
        }
        if !matches!(self.names.as_str(), "gossip" | "oracle") {
            return bad("names", "must be gossip or oracle");
        }
        if !(1..=64).contains(&self.flood_hop_limit) {
            return bad("flood_hop_limit", "must be in 1..=64");
        }
        if !matches!(self.metric.as_str(), "tree" | "cpl") {
            return bad("metric", "must be tree or cpl");
        }
        if !(self.beacon_interval >= 0.05 && self.beacon_interval <= 3600.0) {
            return bad("beacon_interval", "must be in [0.05, 3600] seconds");
        }
        if !(self.pacing_ms >= 0.0 && self.pacing_ms <= 60_000.0) {
            return bad("pacing_ms", "must be in [0, 60000]");
        }
        if !matches!(self.peers, 32 | 256) {
            return bad("peers", "must be 32 or 256");
        }
        if !(1..=64).contains(&self.ack_every) {
            return bad("ack_every", "must be in 1..=64");
        }
        if !(1..=64).contains(&self.window) {
            return bad("window", "must be in 1..=64");
        }
        if !(8..=1 << 20).contains(&self.size) {
            return bad(
                "size",
                "must be in 8..=1048576 bytes (8 carry the message id)",
            );
        }
        if !(self.sample >= 0.0 && self.sample <= self.duration) {
            return bad("sample", "must be in [0, duration]");
        }
        for t in &self.traffic {
            let size = match t {
                Traffic::Bulk { size, count, .. } => {
                    if *count == 0 {
                        return bad("traffic.count", "must be at least 1");
                    }
                    size
                }
                Traffic::Pairs {
                    per_node_per_min,
                    size,
                } => {
                    if !(*per_node_per_min > 0.0 && *per_node_per_min <= 6000.0) {
                        return bad("traffic.per_node_per_min", "must be in (0, 6000]");
                    }
                    size
                }
                Traffic::Sensor {
                    interval,
                    gateways,
                    size,
                } => {
                    if interval.is_nan() || *interval < 0.01 {
                        return bad("traffic.interval", "must be at least 0.01 s");
                    }
                    if *gateways == 0 || *gateways >= n {
                        return bad("traffic.gateways", "must be in 1..nodes");
                    }
                    size
                }
            };
            if let Some(s) = size
                && !(8..=1 << 20).contains(s)
            {
                return bad("traffic.size", "must be in 8..=1048576 bytes");
            }
        }
        for a in &self.events {
            if !(a.at() >= 0.0 && a.at() <= self.duration) {
                return bad("events.at", "must be within the duration");
            }
            if let Action::Crash { fraction, .. } = a
                && !(0.0..=1.0).contains(fraction)
            {
                return bad("events.fraction", "must be in [0, 1]");
            }
        }
        Ok(())
    }

    /// Nodes the topology is asked for (`hops + 1` on a line when `hops` is set).
    pub fn node_count(&self) -> usize {
        match (self.topology.as_str(), self.hops) {
            ("line", Some(h)) => h + 1,
            _ => self.nodes,
        }
    }

    /// The LoRa modem parameters.
    pub fn modem(&self) -> hyphae_link_rylr998::Modem {
        hyphae_link_rylr998::Modem {
            sf: self.lora.sf,
            bw_hz: self.lora.bw,
            cr: self.lora.cr,
            preamble: self.lora.preamble,
        }
    }
}

/// Apply one `key=value` override to the raw TOML table.
fn apply_set(root: &mut toml::Table, set: &str) -> Result<(), ScenarioError> {
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| ScenarioError::Set(format!("`{set}` is not key=value")))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(ScenarioError::Set(format!("`{set}` has an empty key")));
    }
    let value = parse_value(raw.trim());
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = root;
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if last {
            cur.insert((*p).to_string(), value);
            return Ok(());
        }
        let next = cur
            .entry((*p).to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match next {
            toml::Value::Table(t) => t,
            toml::Value::Array(a) => {
                // `traffic.0.size`: index into an array of tables.
                let idx: usize = parts
                    .get(i + 1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| ScenarioError::Set(format!("`{key}`: `{p}` is an array")))?;
                let rest = parts[i + 2..].join(".");
                let Some(toml::Value::Table(t)) = a.get_mut(idx) else {
                    return Err(ScenarioError::Set(format!("`{key}`: no element {idx}")));
                };
                if rest.is_empty() {
                    return Err(ScenarioError::Set(format!(
                        "`{key}`: cannot replace a table"
                    )));
                }
                return apply_set(t, &format!("{rest}={raw}"));
            }
            _ => return Err(ScenarioError::Set(format!("`{key}`: `{p}` is not a table"))),
        };
    }
    Ok(())
}

/// A TOML value: number, boolean, inline table/array, or else a bare string.
fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_sets() {
        let sc = Scenario::from_toml(
            "name = \"x\"\ntopology = \"line\"\nhops = 3\n[[traffic]]\nkind = \"bulk\"\nsize = 100\n",
            &[
                "loss=0.1".into(),
                "hops=5".into(),
                "traffic.0.size=2000".into(),
                "link=lora".into(),
                "lora.sf=7".into(),
            ],
        )
        .unwrap();
        assert_eq!(sc.loss, 0.1);
        assert_eq!(sc.node_count(), 6);
        assert_eq!(sc.link, "lora");
        assert_eq!(sc.lora.sf, 7);
        assert_eq!(
            sc.traffic[0],
            Traffic::Bulk {
                from: 0,
                to: -1,
                size: Some(2000),
                count: 1
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = Scenario::from_toml("lose = 0.1\n", &[]).unwrap_err();
        assert!(e.to_string().contains("lose"), "{e}");
        let e = Scenario::from_toml("", &["loss=1.5".into()]).unwrap_err();
        assert_eq!(
            e,
            ScenarioError::Invalid("loss", "1.5 is not in [0, 1)".into())
        );
        let e = Scenario::from_toml("", &["router=ospf".into()]).unwrap_err();
        assert!(matches!(e, ScenarioError::Invalid("router", _)));
        let e = Scenario::from_toml("", &["novalue".into()]).unwrap_err();
        assert!(matches!(e, ScenarioError::Set(_)));
        let e = Scenario::from_toml("", &["traffic.3.size=1".into()]).unwrap_err();
        assert!(
            matches!(e, ScenarioError::Set(_) | ScenarioError::Parse(_)),
            "{e}"
        );
        let e = Scenario::from_toml("", &["lora.sf=12".into(), "link=lora".into()]).unwrap_err();
        assert!(matches!(e, ScenarioError::Invalid("lora", _)));
        assert!(Scenario::from_toml("duration = -1", &[]).is_err());
        assert!(Scenario::from_toml("[[traffic]]\nkind = \"teleport\"\n", &[]).is_err());
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                Scenario::load(&p, &[]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n >= 2);
    }
}
