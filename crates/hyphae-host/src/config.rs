//! The node's TOML configuration. Errors name the field (`links[0].bind`) and the reason.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hyphae_link_udp::UdpConfig;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity and behaviour of the node.
    #[serde(default)]
    pub node: NodeSection,
    /// The links the node drives (at least one); parsed separately by `type`.
    #[serde(skip)]
    pub links: Vec<LinkConfig>,
    /// Static routes `{ dest, via }` (node ids in hex), until dynamic routing lands.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Applications registered at start.
    #[serde(default)]
    pub apps: Vec<String>,
    /// The local application API.
    #[serde(default)]
    pub api: ApiConfig,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Identity, credential and network key (`crate::secure`); required unless `insecure`.
    #[serde(default)]
    pub security: crate::secure::SecuritySection,
}

/// `[node]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Node id, 16 hex digits; when absent, read from (or created in) `identity`.
    pub id: Option<String>,
    /// File holding the node id (created with a random id if missing).
    pub identity: Option<PathBuf>,
    /// Seed of the core's jitter PRNG.
    pub seed: u64,
    /// Largest blob sent or admitted, bytes (at most 512 KiB).
    pub max_transfer: usize,
    /// Beacon interval in milliseconds.
    pub beacon_ms: u64,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            id: None,
            identity: None,
            seed: 0,
            max_transfer: 256 * 1024,
            beacon_ms: 1000,
        }
    }
}

/// One `[[links]]` entry, selected by `type`.
#[derive(Debug, Clone)]
pub enum LinkConfig {
    /// `type = "udp"`.
    Udp(UdpConfig),
    /// `type = "rylr998"`: a REYAX LoRa module on a serial port (fields: `docs/spec/rylr998.md`,
    /// `hyphae_link_rylr998::Rylr998Config`).
    Rylr998(hyphae_link_rylr998::Rylr998Config),
    /// `type = "espnow-bridge"`: an ESP32 bridge on a serial port.
    EspnowBridge(SerialLink),
}

/// The fields of a serial link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialLink {
    /// Serial device path.
    pub port: PathBuf,
}

fn typed<T: serde::de::DeserializeOwned>(i: usize, t: toml::Table) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(t)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            format!("links[{i}]")
        } else {
            format!("links[{i}].{path}")
        };
        err(field, e.into_inner().to_string().trim().to_owned())
    })
}

fn parse_link(i: usize, mut t: toml::Table) -> Result<LinkConfig, ConfigError> {
    let ty = match t.remove("type") {
        Some(toml::Value::String(s)) => s,
        Some(_) => return Err(err(format!("links[{i}].type"), "expected a string")),
        None => {
            return Err(err(
                format!("links[{i}].type"),
                "missing: one of \"udp\", \"rylr998\", \"espnow-bridge\"",
            ));
        }
    };
    match ty.as_str() {
        "udp" => typed(i, t).map(LinkConfig::Udp),
        "rylr998" => {
            let c: hyphae_link_rylr998::Rylr998Config = typed(i, t)?;
            c.validate()
                .map_err(|e| err(format!("links[{i}].{}", e.field), e.reason))?;
            Ok(LinkConfig::Rylr998(c))
        }
        "espnow-bridge" => typed(i, t).map(LinkConfig::EspnowBridge),
        other => Err(err(
            format!("links[{i}].type"),
            format!("unknown link type {other:?}: one of \"udp\", \"rylr998\", \"espnow-bridge\""),
        )),
    }
}

/// One `[[routes]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Destination node id (hex).
    pub dest: String,
    /// Next hop node id (hex), a neighbour.
    pub via: String,
}

/// `[api]`: where applications connect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// `"tcp:127.0.0.1:7400"` or `"unix:/run/hyphae.sock"`; empty disables the API.
    pub listen: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "tcp:127.0.0.1:7400".into(),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the `/metrics` HTTP endpoint; absent disables it.
    pub listen: Option<SocketAddr>,
}

/// A configuration error: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the field (`links[0].bind`), or `(file)`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "configuration: {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn err(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Parse a node id: 16 hex digits.
pub fn parse_node_id(s: &str) -> Option<[u8; 8]> {
    if s.len() != 16 {
        return None;
    }
    let mut id = [0u8; 8];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

impl Config {
    /// Parse and validate TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err("(file)", e.message().to_owned()))?;
        let links = match table.remove("links") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a,
            Some(_) => return Err(err("links", "expected [[links]] tables")),
        };
        let rest = toml::to_string(&table).map_err(|e| err("(file)", e.to_string()))?;
        let mut config = Self::parse_rest(&rest)?;
        for (i, l) in links.into_iter().enumerate() {
            let toml::Value::Table(t) = l else {
                return Err(err(format!("links[{i}]"), "expected a table"));
            };
            config.links.push(parse_link(i, t)?);
        }
        config.validate()?;
        Ok(config)
    }

    fn parse_rest(text: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.into_inner().message().to_owned();
            err(if path == "." { "(file)".into() } else { path }, msg)
        })
    }

    /// Read and parse a file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err("(file)", format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// Check values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(id) = &self.node.id
            && parse_node_id(id).is_none()
        {
            return Err(err("node.id", format!("{id:?} is not 16 hex digits")));
        }
        if self.node.max_transfer == 0 || self.node.max_transfer > 512 * 1024 {
            return Err(err("node.max_transfer", "must be within 1..=524288"));
        }
        if self.node.beacon_ms < 10 {
            return Err(err("node.beacon_ms", "must be at least 10"));
        }
        if self.links.is_empty() {
            return Err(err("links", "at least one [[links]] entry is needed"));
        }
        if self.links.len() > hyphae_core::node::MAX_LINKS {
            return Err(err(
                "links",
                format!("at most {} links", hyphae_core::node::MAX_LINKS),
            ));
        }
        for (i, l) in self.links.iter().enumerate() {
            if let LinkConfig::Udp(u) = l {
                u.validate().map_err(|e| {
                    let (f, r) = e.split_once(": ").unwrap_or(("", &e));
                    err(format!("links[{i}].{f}"), r.to_owned())
                })?;
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            if parse_node_id(&r.dest).is_none() {
                return Err(err(format!("routes[{i}].dest"), "not 16 hex digits"));
            }
            if parse_node_id(&r.via).is_none() {
                return Err(err(format!("routes[{i}].via"), "not 16 hex digits"));
            }
        }
        for (i, a) in self.apps.iter().enumerate() {
            if hyphae_wire::AppId::from_name(a).is_none() || a.is_empty() {
                return Err(err(format!("apps[{i}]"), "unusable application name"));
            }
        }
        let l = &self.api.listen;
        if !(l.is_empty()
            || l.starts_with("unix:")
            || l.strip_prefix("tcp:")
                .is_some_and(|a| a.parse::<SocketAddr>().is_ok()))
        {
            return Err(err(
                "api.listen",
                format!("{l:?}: expected \"tcp:<ip>:<port>\" or \"unix:<path>\""),
            ));
        }
        self.security.validate().map_err(|(f, r)| err(f, r))?;
        Ok(())
    }

    /// The beacon interval.
    pub fn beacon(&self) -> Duration {
        Duration::from_millis(self.node.beacon_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_file() {
        let c = Config::parse(
            r#"
            [node]
            id = "0102030405060708"
            [[links]]
            type = "udp"
            bind = "127.0.0.1:7000"
            peers = ["127.0.0.1:7001"]
            discovery = "none"
            [api]
            listen = "unix:/tmp/x.sock"
            [security]
            insecure = true
            "#,
        )
        .unwrap();
        assert_eq!(c.links.len(), 1);
    }

    #[test]
    fn security_is_required_unless_insecure() {
        let base = "[[links]]\ntype = \"udp\"\n";
        let e = Config::parse(base).unwrap_err();
        assert_eq!(e.field, "security.key");
        assert!(e.reason.contains("insecure"), "{e}");
        let partial = format!("{base}[security]\nkey = \"k\"\nnetwork = \"n\"\n");
        assert_eq!(
            Config::parse(&partial).unwrap_err().field,
            "security.network_key"
        );
        let bad = format!("{base}[security]\nkey = \"k\"\nnetwork = \"n\"\nnetwork_key = \"00\"\n");
        assert_eq!(
            Config::parse(&bad).unwrap_err().field,
            "security.network_key"
        );
        assert!(Config::parse(&format!("{base}[security]\ninsecure = true\n")).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "[[links]]\ntype = \"udp\"\nbind = \"nonsense\"\n",
                "links[0].bind",
            ),
            ("[[links]]\ntype = \"carrier-pigeon\"\n", "links[0]"),
            (
                "[node]\nid = \"xyz\"\n[[links]]\ntype = \"udp\"\n",
                "node.id",
            ),
            ("[node]\ncolour = 3\n", "node"),
            ("", "links"),
            ("[[links]]\ntype = \"udp\"\nmtu = 5\n", "links[0].mtu"),
            (
                "[[links]]\ntype = \"udp\"\n[api]\nlisten = \"http://x\"\n",
                "api.listen",
            ),
            (
                "[[links]]\ntype = \"udp\"\n[[routes]]\ndest = \"01\"\nvia = \"0102030405060708\"\n",
                "routes[0].dest",
            ),
            ("this is not toml", "(file)"),
        ];
        for (text, field) in cases {
            let e = Config::parse(text).unwrap_err();
            assert!(e.field.starts_with(field), "{text:?}: got {e}");
            assert!(!e.reason.is_empty());
        }
    }
}
