//! Topic mapping between device messages and MQTT (pure functions).
//!
//! Uplink: `<prefix>/device/<id>/<suffix>`; downlink: `<prefix>/device/<id>/set/<rest>`;
//! availability: `<prefix>/device/<id>/availability`; the gateway's own status:
//! `<prefix>/hyphae/gateway/<gateway id>/status`. With the default empty prefix the topics start
//! with `/device/`, as in seed 004.

use core::fmt::Write as _;

/// Format a MAC or node id as the topic segment: lowercase hex, no separators.
pub fn hex_id(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parse a hex id written by [`hex_id`] (6 bytes for a MAC, 8 for a node id).
pub fn parse_hex_id(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() || s.len() > 32 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The topic layout of one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Topics under `prefix` (may be empty; a trailing `/` is ignored).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// The configured prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>/device/<id>/<suffix>`.
    pub fn uplink(&self, id: &str, suffix: &str) -> String {
        format!("{}/device/{id}/{suffix}", self.prefix)
    }

    /// `<prefix>/device/<id>/availability` (retained `online` / `offline`).
    pub fn availability(&self, id: &str) -> String {
        format!("{}/device/{id}/availability", self.prefix)
    }

    /// `<prefix>/hyphae/gateway/<gateway>/status`: `online`, or `offline` by last will.
    pub fn gateway_status(&self, gateway: &str) -> String {
        format!("{}/hyphae/gateway/{gateway}/status", self.prefix)
    }

    /// The downlink subscription filter: `<prefix>/device/+/set/#`.
    pub fn downlink_filter(&self) -> String {
        format!("{}/device/+/set/#", self.prefix)
    }

    /// Split a downlink topic into the device id and the suffix `set/<rest>`.
    pub fn parse_downlink<'t>(&self, topic: &'t str) -> Option<(&'t str, &'t str)> {
        let rest = topic.strip_prefix(self.prefix.as_str())?;
        let rest = rest.strip_prefix("/device/")?;
        let (id, suffix) = rest.split_once('/')?;
        let tail = suffix.strip_prefix("set/")?;
        if id.is_empty() || tail.is_empty() {
            return None;
        }
        Some((id, suffix))
    }
}

/// Whether a device-chosen suffix is acceptable in a topic (the wire parser already refuses
/// wildcards; this also refuses empty levels and a leading `/`).
pub fn valid_suffix(suffix: &str) -> bool {
    !suffix.is_empty()
        && !suffix.starts_with('/')
        && !suffix.contains("//")
        && !suffix.contains(['+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_prefix_matches_seed() {
        let t = Topics::new("");
        assert_eq!(
            t.uplink("246f28010203", "temp"),
            "/device/246f28010203/temp"
        );
        assert_eq!(t.downlink_filter(), "/device/+/set/#");
    }

    #[test]
    fn prefixed_topics_round_trip() {
        let t = Topics::new("home/");
        assert_eq!(t.uplink("ab", "x/y"), "home/device/ab/x/y");
        assert_eq!(
            t.parse_downlink("home/device/246f28010203/set/led"),
            Some(("246f28010203", "set/led"))
        );
        assert_eq!(t.parse_downlink("home/device/ab/temp"), None);
        assert_eq!(t.parse_downlink("other/device/ab/set/x"), None);
        assert_eq!(t.parse_downlink("home/device/ab/set/"), None);
        assert_eq!(t.gateway_status("g1"), "home/hyphae/gateway/g1/status");
    }

    #[test]
    fn hex_ids() {
        assert_eq!(hex_id(&[0x24, 0x6f, 0, 1, 2, 3]), "246f00010203");
        assert_eq!(
            parse_hex_id("246f00010203"),
            Some(vec![0x24, 0x6f, 0, 1, 2, 3])
        );
        assert_eq!(parse_hex_id("zz"), None);
        assert_eq!(parse_hex_id("abc"), None);
        assert!(valid_suffix("a/b"));
        assert!(!valid_suffix("a//b"));
        assert!(!valid_suffix("/a"));
    }
}
