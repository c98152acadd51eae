//! The gateway's device sessions: a pure state machine between device–gateway packets (carried
//! by the mesh on application `hyphae/device`) and MQTT messages. No I/O: the shell feeds it
//! device packets, downlink publishes and the time, and sends what it returns.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use hyphae_wire::device::{Qos, ReturnCode};
use hyphae_wire::{DevicePacket, DeviceRepr};

use crate::payload::{PayloadFormat, Sender, encode, ha_discovery};
use crate::topic::{Topics, hex_id, valid_suffix};

/// One message for the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttMessage {
    /// Full topic.
    pub topic: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// QoS 0 or 1.
    pub qos: u8,
    /// Retain flag.
    pub retain: bool,
}

/// What the gateway asks its shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these device-protocol bytes to a mesh node (unicast, app `hyphae/device`).
    ToDevice {
        /// The node's id.
        node: [u8; 8],
        /// One encoded device packet.
        bytes: Vec<u8>,
    },
    /// Publish this to the broker.
    Mqtt(MqttMessage),
}

/// Why a device packet was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayError {
    /// The bytes are not a valid device packet.
    Malformed(hyphae_wire::Error),
    /// A CONNACK came from a device (only gateways send it).
    UnexpectedConnAck,
    /// The topic suffix is not usable in MQTT.
    BadTopic,
}

impl core::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed device packet: {e}"),
            Self::UnexpectedConnAck => f.write_str("CONNACK received from a device"),
            Self::BadTopic => f.write_str("topic suffix unusable in MQTT"),
        }
    }
}

impl std::error::Error for GatewayError {}

/// Gateway settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Topic prefix (empty: topics start with `/device/`).
    pub prefix: String,
    /// Payload format.
    pub format: PayloadFormat,
    /// Publish Home Assistant discovery documents under this prefix (e.g. `homeassistant`).
    pub ha_discovery: Option<String>,
    /// This gateway's id in its status topic.
    pub gateway_id: String,
    /// Most devices with a session at once; CONNECT beyond it is answered "busy".
    pub max_devices: usize,
    /// Minimum QoS towards the broker (a device asking for QoS 1 always gets 1).
    pub min_qos: u8,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            format: PayloadFormat::Raw,
            ha_discovery: None,
            gateway_id: "gateway".into(),
            max_devices: 1024,
            min_qos: 1,
        }
    }
}

#[derive(Debug, Clone)]
struct Device {
    id: String,
    mac: Option<[u8; 6]>,
    name: Option<String>,
    keepalive: Option<Duration>,
    last_seen: Instant,
    online: bool,
}

/// Counters the shell exports as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// CONNECTs accepted.
    pub connects: u64,
    /// PUBLISHes turned into MQTT messages.
    pub publishes: u64,
    /// Device packets refused.
    pub errors: u64,
    /// Downlink messages sent to devices.
    pub downlinks: u64,
}

/// The device session table.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    topics: Topics,
    devices: HashMap<[u8; 8], Device>,
    by_id: HashMap<String, [u8; 8]>,
    announced: HashSet<(String, String)>,
    next_session: u16,
    stats: GatewayStats,
}

impl Gateway {
    /// A gateway with no devices.
    pub fn new(config: GatewayConfig) -> Self {
        Self {
            topics: Topics::new(&config.prefix),
            config,
            devices: HashMap::new(),
            by_id: HashMap::new(),
            announced: HashSet::new(),
            next_session: 1,
            stats: GatewayStats::default(),
        }
    }

    /// The topic layout.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The gateway's status topic (for the MQTT last will).
    pub fn status_topic(&self) -> String {
        self.topics.gateway_status(&self.config.gateway_id)
    }

    /// Counters.
    pub fn stats(&self) -> GatewayStats {
        self.stats
    }

    /// Devices with a session.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Handle one device packet that arrived from mesh node `from`.
    pub fn handle_device(
        &mut self,
        now: Instant,
        from: [u8; 8],
        bytes: &[u8],
        out: &mut Vec<Output>,
    ) -> Result<(), GatewayError> {
        let r = self.handle_inner(now, from, bytes, out);
        if r.is_err() {
            self.stats.errors += 1;
        }
        r
    }

    fn handle_inner(
        &mut self,
        now: Instant,
        from: [u8; 8],
        bytes: &[u8],
        out: &mut Vec<Output>,
    ) -> Result<(), GatewayError> {
        let packet = DevicePacket::new_checked(bytes).map_err(GatewayError::Malformed)?;
        let repr = DeviceRepr::parse(&packet).map_err(GatewayError::Malformed)?;
        match repr {
            DeviceRepr::Connect {
                keepalive,
                mac,
                name,
            } => {
                let known = self.devices.contains_key(&from);
                let code = if !known && self.devices.len() >= self.config.max_devices {
                    ReturnCode::Busy
                } else {
                    ReturnCode::Accepted
                };
                let session = self.next_session;
                self.next_session = self.next_session.wrapping_add(1).max(1);
                if code == ReturnCode::Accepted {
                    let id = hex_id(&mac);
                    if let Some(old) = self.devices.get(&from)
                        && old.id != id
                    {
                        self.by_id.remove(&old.id);
                    }
                    self.by_id.insert(id.clone(), from);
                    self.devices.insert(
                        from,
                        Device {
                            id: id.clone(),
                            mac: Some(mac),
                            name: name.map(str::to_owned),
                            keepalive: (keepalive > 0)
                                .then(|| Duration::from_millis(u64::from(keepalive) * 1500)),
                            last_seen: now,
                            online: true,
                        },
                    );
                    self.stats.connects += 1;
                    tracing::info!(device = %id, node = %hex_id(&from), session, name, "device connected");
                    out.push(Output::Mqtt(MqttMessage {
                        topic: self.topics.availability(&id),
                        payload: b"online".to_vec(),
                        qos: 1,
                        retain: true,
                    }));
                }
                out.push(Output::ToDevice {
                    node: from,
                    bytes: emit(&DeviceRepr::ConnAck { code, session }),
                });
            }
            DeviceRepr::ConnAck { .. } => return Err(GatewayError::UnexpectedConnAck),
            DeviceRepr::Publish {
                qos,
                retain,
                packet_id,
                topic,
                payload,
            } => {
                if !valid_suffix(topic) {
                    return Err(GatewayError::BadTopic);
                }
                let dev = self.devices.entry(from).or_insert_with(|| {
                    // No CONNECT: the node id names the device.
                    Device {
                        id: hex_id(&from),
                        mac: None,
                        name: None,
                        keepalive: None,
                        last_seen: now,
                        online: false,
                    }
                });
                self.by_id.insert(dev.id.clone(), from);
                dev.last_seen = now;
                if !dev.online && dev.mac.is_some() {
                    dev.online = true;
                    out.push(Output::Mqtt(MqttMessage {
                        topic: self.topics.availability(&dev.id),
                        payload: b"online".to_vec(),
                        qos: 1,
                        retain: true,
                    }));
                }
                let sender = Sender {
                    id: &dev.id,
                    mac: dev.mac,
                    node: from,
                    name: dev.name.as_deref(),
                };
                let state_topic = self.topics.uplink(&dev.id, topic);
                if let Some(prefix) = &self.config.ha_discovery
                    && self.announced.insert((dev.id.clone(), topic.to_owned()))
                {
                    let (t, doc) = ha_discovery(
                        prefix,
                        &sender,
                        topic,
                        &state_topic,
                        &self.topics.availability(&dev.id),
                        &self.topics.gateway_status(&self.config.gateway_id),
                    );
                    out.push(Output::Mqtt(MqttMessage {
                        topic: t,
                        payload: doc,
                        qos: 1,
                        retain: true,
                    }));
                }
                let qos = if qos == Qos::AtLeastOnce {
                    1
                } else {
                    self.config.min_qos
                };
                out.push(Output::Mqtt(MqttMessage {
                    topic: state_topic,
                    payload: encode(self.config.format, &sender, topic, packet_id, payload),
                    qos,
                    retain,
                }));
                self.stats.publishes += 1;
            }
        }
        Ok(())
    }

    /// Mark devices silent for 1.5 × their keep-alive as offline.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        for dev in self.devices.values_mut() {
            if let Some(k) = dev.keepalive
                && dev.online
                && now.saturating_duration_since(dev.last_seen) > k
            {
                dev.online = false;
                tracing::info!(device = %dev.id, "device offline (keep-alive expired)");
                out.push(Output::Mqtt(MqttMessage {
                    topic: self.topics.availability(&dev.id),
                    payload: b"offline".to_vec(),
                    qos: 1,
                    retain: true,
                }));
            }
        }
    }

    /// A message from the broker on the downlink filter: the device packet to send, if the
    /// topic names a known device.
    pub fn handle_downlink(&mut self, topic: &str, payload: &[u8]) -> Option<Output> {
        let (id, suffix) = self.topics.parse_downlink(topic)?;
        let node = *self.by_id.get(id)?;
        if !valid_suffix(suffix) || suffix.len() > hyphae_wire::device::MAX_TOPIC {
            return None;
        }
        self.stats.downlinks += 1;
        Some(Output::ToDevice {
            node,
            bytes: emit(&DeviceRepr::Publish {
                qos: Qos::AtMostOnce,
                retain: false,
                packet_id: 0,
                topic: suffix,
                payload,
            }),
        })
    }
}

/// Encode a device packet (for gateways, devices and tests).
pub fn emit(repr: &DeviceRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut p = DevicePacket::new_unchecked(&mut buf[..]);
    // The buffer is exactly buffer_len(); a Repr that refuses to emit (invalid topic) yields
    // an empty vector, which no caller sends.
    if repr.emit(&mut p).is_err() {
        return Vec::new();
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: [u8; 8] = [9; 8];
    const MAC: [u8; 6] = [0x24, 0x6f, 0x28, 1, 2, 3];

    fn connect(keepalive: u16) -> Vec<u8> {
        emit(&DeviceRepr::Connect {
            keepalive,
            mac: MAC,
            name: Some("kite"),
        })
    }

    fn publish(topic: &str, payload: &[u8]) -> Vec<u8> {
        emit(&DeviceRepr::Publish {
            qos: Qos::AtLeastOnce,
            retain: false,
            packet_id: 5,
            topic,
            payload,
        })
    }

    #[test]
    fn connect_connack_publish_offline() {
        let mut g = Gateway::new(GatewayConfig {
            ha_discovery: Some("homeassistant".into()),
            ..GatewayConfig::default()
        });
        let t0 = Instant::now();
        let mut out = Vec::new();
        g.handle_device(t0, NODE, &connect(10), &mut out).unwrap();
        assert!(
            matches!(&out[0], Output::Mqtt(m) if m.topic == "/device/246f28010203/availability" && m.payload == b"online")
        );
        let Output::ToDevice { node, bytes } = &out[1] else {
            panic!("no connack")
        };
        assert_eq!(*node, NODE);
        let p = DevicePacket::new_checked(&bytes[..]).unwrap();
        assert!(matches!(
            DeviceRepr::parse(&p).unwrap(),
            DeviceRepr::ConnAck {
                code: ReturnCode::Accepted,
                ..
            }
        ));
        out.clear();
        g.handle_device(t0, NODE, &publish("temp", b"21.5"), &mut out)
            .unwrap();
        assert_eq!(out.len(), 2, "discovery document then the reading");
        let Output::Mqtt(m) = &out[1] else { panic!() };
        assert_eq!(
            (m.topic.as_str(), &m.payload[..], m.qos),
            ("/device/246f28010203/temp", &b"21.5"[..], 1)
        );
        out.clear();
        g.handle_timeout(t0 + Duration::from_secs(16), &mut out);
        assert!(matches!(&out[0], Output::Mqtt(m) if m.payload == b"offline"));
        // Downlink reaches the node that connected.
        let Some(Output::ToDevice { node, bytes }) =
            g.handle_downlink("/device/246f28010203/set/led", b"on")
        else {
            panic!("no downlink")
        };
        assert_eq!(node, NODE);
        let p = DevicePacket::new_checked(&bytes[..]).unwrap();
        assert!(matches!(
            DeviceRepr::parse(&p).unwrap(),
            DeviceRepr::Publish {
                topic: "set/led",
                payload: b"on",
                ..
            }
        ));
        assert!(
            g.handle_downlink("/device/ffffffffffff/set/led", b"on")
                .is_none()
        );
    }

    #[test]
    fn publish_without_connect_uses_node_id_and_garbage_is_refused() {
        let mut g = Gateway::new(GatewayConfig::default());
        let mut out = Vec::new();
        g.handle_device(Instant::now(), NODE, &publish("a/b", &[1, 2]), &mut out)
            .unwrap();
        assert!(matches!(&out[0], Output::Mqtt(m) if m.topic == "/device/0909090909090909/a/b"));
        for bad in [&[][..], &[0x30], &[0xf0, 0], &[0x20, 3, 0, 1, 0]] {
            assert!(
                g.handle_device(Instant::now(), NODE, bad, &mut out)
                    .is_err()
            );
        }
        assert_eq!(g.stats().errors, 4);
    }

    #[test]
    fn busy_when_full() {
        let mut g = Gateway::new(GatewayConfig {
            max_devices: 0,
            ..GatewayConfig::default()
        });
        let mut out = Vec::new();
        g.handle_device(Instant::now(), NODE, &connect(0), &mut out)
            .unwrap();
        let Output::ToDevice { bytes, .. } = &out[0] else {
            panic!()
        };
        let p = DevicePacket::new_checked(&bytes[..]).unwrap();
        assert!(matches!(
            DeviceRepr::parse(&p).unwrap(),
            DeviceRepr::ConnAck {
                code: ReturnCode::Busy,
                ..
            }
        ));
    }
}
