//! The sensor application: publishes to the nearest gateway through the device–gateway
//! protocol (`docs/spec/device.md`, `hyphae_wire::device`), carried by the core's reliable
//! transfers as the `hyphae/device` application.
//!
//! CONNECT goes out as a broadcast; every gateway in reach answers CONNACK; the device keeps
//! the accepted gateway that is nearest (strongest RSSI in the core's peer table, so a neighbour
//! beats a gateway reached over several hops) and sends its PUBLISH packets to it. A failed
//! send or the gateway going silent starts over with a new CONNECT.

use core::time::Duration;

use hyphae_core::{AppId, Delivery, Event, FailReason, Instant, NodeId, SendId};
use hyphae_wire::device::{Packet, Qos, Repr, ReturnCode};

use crate::FwNode;

/// Timer token of the periodic publish.
const TICK: u32 = 1;
/// Keep-alive announced in CONNECT.
const KEEPALIVE_S: u16 = 120;

/// Outcome of one step, for the log.
#[derive(Clone, Copy)]
pub enum Note {
    /// A CONNECT went out.
    Connecting,
    /// A gateway accepted us.
    Connected(NodeId, u16),
    /// A reading was handed to the core.
    Published(SendId),
    /// The gateway was lost; reconnecting.
    Lost(FailReason),
}

/// State of the sensor application.
pub struct DeviceApp {
    app: AppId,
    mac: [u8; 6],
    interval: Duration,
    gateway: Option<(NodeId, u16)>,
    pending: Option<SendId>,
    packet_id: u16,
}

impl Note {
    /// Write the note to the log.
    pub fn log(&self) {
        match self {
            Self::Connecting => log::info!("device: CONNECT broadcast"),
            Self::Connected(gw, session) => {
                log::info!("device: gateway {:02x?} accepted, session {session}", gw.0);
            }
            Self::Published(id) => log::info!("device: PUBLISH handed to the core ({})", id.0),
            Self::Lost(why) => log::info!("device: gateway lost ({why}), reconnecting"),
        }
    }
}

impl DeviceApp {
    /// Register the application with the node and arm its first tick.
    pub fn new(node: &mut FwNode, now: Instant, mac: [u8; 6], interval: Duration) -> Option<Self> {
        let app = node.register_app(hyphae_wire::device::APP_NAME).ok()?;
        node.set_timer(app, now + Duration::from_secs(3), TICK)
            .ok()?;
        Some(Self {
            app,
            mac,
            interval,
            gateway: None,
            pending: None,
            packet_id: 0,
        })
    }

    fn emit(
        node: &mut FwNode,
        now: Instant,
        app: AppId,
        to: Option<NodeId>,
        r: &Repr<'_>,
    ) -> Option<SendId> {
        let mut buf = [0u8; 128];
        let len = r.buffer_len();
        let out = buf.get_mut(..len)?;
        r.emit(&mut Packet::new_unchecked(&mut *out)).ok()?;
        match to {
            Some(gw) => node.send(now, app, gw, out).ok(),
            None => node.broadcast(now, app, out).ok(),
        }
    }

    fn connect(&mut self, node: &mut FwNode, now: Instant) -> Option<Note> {
        let r = Repr::Connect {
            keepalive: KEEPALIVE_S,
            mac: self.mac,
            name: Some("hyphae-c3"),
        };
        Self::emit(node, now, self.app, None, &r).map(|_| Note::Connecting)
    }

    fn rssi_of(node: &FwNode, id: &NodeId) -> i16 {
        node.peers()
            .get(id)
            .and_then(|p| p.rssi)
            .unwrap_or(i16::MIN)
    }

    /// Feed one core event; `read_sensor` is called when a reading is due.
    pub fn on_event(
        &mut self,
        node: &mut FwNode,
        now: Instant,
        ev: &Event,
        read_sensor: impl FnOnce() -> f32,
    ) -> Option<Note> {
        match *ev {
            Event::Timer { app, token: TICK } if app == self.app => {
                let _ = node.set_timer(self.app, now + self.interval, TICK);
                let Some((gw, _)) = self.gateway else {
                    return self.connect(node, now);
                };
                if self.pending.is_some() {
                    return None;
                }
                let mut text = [0u8; 16];
                let n = format_celsius(read_sensor(), &mut text);
                self.packet_id = self.packet_id.wrapping_add(1);
                let r = Repr::Publish {
                    qos: Qos::AtMostOnce,
                    retain: false,
                    packet_id: 0,
                    topic: "temperature",
                    payload: &text[..n],
                };
                self.pending = Self::emit(node, now, self.app, Some(gw), &r);
                self.pending.map(Note::Published)
            }
            Event::Delivered(Delivery { id, app, from, .. }) if app == self.app => {
                let mut buf = [0u8; 128];
                let Some(n) = node.take_delivery(id, &mut buf) else {
                    node.discard_delivery(id);
                    return None;
                };
                let packet = Packet::new_checked(&buf[..n]).ok()?;
                let Ok(Repr::ConnAck {
                    code: ReturnCode::Accepted,
                    session,
                }) = Repr::parse(&packet)
                else {
                    return None;
                };
                let better = match self.gateway {
                    None => true,
                    Some((cur, _)) => {
                        cur != from && Self::rssi_of(node, &from) > Self::rssi_of(node, &cur)
                    }
                };
                if better {
                    self.gateway = Some((from, session));
                    return Some(Note::Connected(from, session));
                }
                None
            }
            Event::SendDone { id, .. } if Some(id) == self.pending => {
                self.pending = None;
                None
            }
            Event::SendFailed { id, reason, .. } if Some(id) == self.pending => {
                self.pending = None;
                self.gateway = None;
                Some(Note::Lost(reason))
            }
            Event::PeerDown(id) if self.gateway.is_some_and(|(g, _)| g == id) => {
                self.gateway = None;
                Some(Note::Lost(FailReason::Unreachable))
            }
            _ => None,
        }
    }
}

/// `23.5`-style text with one decimal, without pulling in float formatting.
fn format_celsius(c: f32, out: &mut [u8; 16]) -> usize {
    let tenths = (c * 10.0) as i32;
    let (neg, v) = (tenths < 0, tenths.unsigned_abs());
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut whole = v / 10;
    loop {
        digits[n] = b'0' + (whole % 10) as u8;
        n += 1;
        whole /= 10;
        if whole == 0 || n == digits.len() {
            break;
        }
    }
    let mut w = 0;
    if neg {
        out[w] = b'-';
        w += 1;
    }
    for d in digits[..n].iter().rev() {
        out[w] = *d;
        w += 1;
    }
    out[w] = b'.';
    out[w + 1] = b'0' + (v % 10) as u8;
    w + 2
}
