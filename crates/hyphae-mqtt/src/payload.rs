//! Payload formats and Home Assistant discovery documents (pure functions).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::topic::hex_id;

/// How device payloads are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    /// The device's bytes, unchanged.
    #[default]
    Raw,
    /// A JSON envelope: `{"id", "mac", "node", "name", "topic", "packet_id", "payload"}` where
    /// `payload` is the device's JSON if it sent JSON, else a string if it is UTF-8, else
    /// `{"hex": "…"}`.
    Json,
}

/// What the envelope says about the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender<'a> {
    /// Topic id of the device (MAC or node id in hex).
    pub id: &'a str,
    /// The device's MAC, if it sent CONNECT.
    pub mac: Option<[u8; 6]>,
    /// The mesh node that carried it.
    pub node: [u8; 8],
    /// Its name from CONNECT.
    pub name: Option<&'a str>,
}

/// Encode a device payload for the broker.
pub fn encode(
    format: PayloadFormat,
    sender: &Sender<'_>,
    suffix: &str,
    packet_id: u16,
    payload: &[u8],
) -> Vec<u8> {
    match format {
        PayloadFormat::Raw => payload.to_vec(),
        PayloadFormat::Json => {
            let body = if let Ok(v) = serde_json::from_slice::<Value>(payload) {
                v
            } else if let Ok(s) = core::str::from_utf8(payload) {
                Value::String(s.to_owned())
            } else {
                json!({ "hex": hex_id(payload) })
            };
            let doc = json!({
                "id": sender.id,
                "mac": sender.mac.map(|m| hex_id(&m)),
                "node": hex_id(&sender.node),
                "name": sender.name,
                "topic": suffix,
                "packet_id": packet_id,
                "payload": body,
            });
            doc.to_string().into_bytes()
        }
    }
}

/// A Home Assistant MQTT discovery message for one device topic: its config topic
/// (`<discovery prefix>/sensor/hyphae_<id>_<suffix>/config`) and retained JSON document.
pub fn ha_discovery(
    discovery_prefix: &str,
    sender: &Sender<'_>,
    suffix: &str,
    state_topic: &str,
    availability_topic: &str,
    gateway_status_topic: &str,
) -> (String, Vec<u8>) {
    let object: String = suffix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let unique = format!("hyphae_{}_{}", sender.id, object);
    let topic = format!("{discovery_prefix}/sensor/{unique}/config");
    let doc = json!({
        "name": suffix,
        "unique_id": unique,
        "state_topic": state_topic,
        "availability": [
            { "topic": availability_topic },
            { "topic": gateway_status_topic }
        ],
        "availability_mode": "all",
        "device": {
            "identifiers": [format!("hyphae_{}", sender.id)],
            "name": sender.name.unwrap_or(sender.id),
            "manufacturer": "hyphae",
            "connections": sender.mac.map(|m| vec![vec!["mac".to_owned(), mac_colon(&m)]]).unwrap_or_default(),
        }
    });
    (topic, doc.to_string().into_bytes())
}

fn mac_colon(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Sender<'static> {
        Sender {
            id: "246f28010203",
            mac: Some([0x24, 0x6f, 0x28, 1, 2, 3]),
            node: [1; 8],
            name: Some("kite"),
        }
    }

    #[test]
    fn raw_is_verbatim() {
        assert_eq!(
            encode(PayloadFormat::Raw, &sender(), "t", 0, &[0, 255]),
            vec![0, 255]
        );
    }

    #[test]
    fn json_envelope_embeds_json_text_or_hex() {
        let s = sender();
        let v: Value =
            serde_json::from_slice(&encode(PayloadFormat::Json, &s, "temp", 7, b"{\"c\":21.5}"))
                .unwrap();
        assert_eq!(v["payload"]["c"], 21.5);
        assert_eq!(v["mac"], "246f28010203");
        assert_eq!(v["packet_id"], 7);
        let v: Value =
            serde_json::from_slice(&encode(PayloadFormat::Json, &s, "t", 0, b"hi there")).unwrap();
        assert_eq!(v["payload"], "hi there");
        let v: Value =
            serde_json::from_slice(&encode(PayloadFormat::Json, &s, "t", 0, &[0xff, 0])).unwrap();
        assert_eq!(v["payload"]["hex"], "ff00");
    }

    #[test]
    fn ha_document() {
        let (topic, doc) = ha_discovery("homeassistant", &sender(), "env/temp", "s", "a", "g");
        assert_eq!(
            topic,
            "homeassistant/sensor/hyphae_246f28010203_env_temp/config"
        );
        let v: Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["state_topic"], "s");
        assert_eq!(v["device"]["connections"][0][1], "24:6f:28:01:02:03");
    }
}
