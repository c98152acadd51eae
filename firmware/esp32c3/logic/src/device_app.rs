//! The sensor application: publishes to the nearest gateway through the device–gateway
//! protocol (`docs/spec/device.md`, `hyphae_wire::device`), carried by the core's reliable
//! transfers as the `hyphae/device` application.
//!
//! CONNECT goes out as a broadcast; every gateway in reach answers CONNACK; the device keeps
//! the accepted gateway that is nearest (strongest RSSI in the core's peer table, so a neighbour
//! beats a gateway reached over several hops) and sends its PUBLISH packets to it. A failed
//! send or the gateway going silent starts over with a new CONNECT.

use core::time::Duration;

use hyphae_core::{AppId, Delivery, Event, FailReason, Instant, Node, NodeId, SendId};
use hyphae_wire::device::{Packet, Qos, Repr, ReturnCode};

/// Timer token of the periodic publish.
const TICK: u32 = 1;
/// Keep-alive announced in CONNECT.
pub const KEEPALIVE_S: u16 = 120;
/// Topic suffix of the readings (`<prefix>/device/<mac>/temperature`).
pub const TOPIC: &str = "temperature";
/// Name announced in CONNECT.
pub const NAME: &str = "hyphae-c3";
/// Delay from start to the first CONNECT.
pub const FIRST_TICK: Duration = Duration::from_secs(3);

/// Outcome of one step, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The application id (`hyphae/device`).
    pub fn app(&self) -> AppId {
        self.app
    }

    /// The gateway in use and its session, once one accepted us.
    pub fn gateway(&self) -> Option<(NodeId, u16)> {
        self.gateway
    }

    /// Register the application with the node and arm its first tick.
    pub fn new<
        const P: usize,
        const T: usize,
        const IN: usize,
        const OUT: usize,
        const M: usize,
    >(
        node: &mut Node<P, T, IN, OUT, M>,
        now: Instant,
        mac: [u8; 6],
        interval: Duration,
    ) -> Option<Self> {
        let app = node.register_app(hyphae_wire::device::APP_NAME).ok()?;
        node.set_timer(app, now + FIRST_TICK, TICK).ok()?;
        Some(Self {
            app,
            mac,
            interval,
            gateway: None,
            pending: None,
            packet_id: 0,
        })
    }

    fn emit<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>(
        node: &mut Node<P, T, IN, OUT, M>,
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

    fn connect<
        const P: usize,
        const T: usize,
        const IN: usize,
        const OUT: usize,
        const M: usize,
    >(
        &mut self,
        node: &mut Node<P, T, IN, OUT, M>,
        now: Instant,
    ) -> Option<Note> {
        let r = Repr::Connect {
            keepalive: KEEPALIVE_S,
            mac: self.mac,
            name: Some(NAME),
        };
        Self::emit(node, now, self.app, None, &r).map(|_| Note::Connecting)
    }

    fn rssi_of<
        const P: usize,
        const T: usize,
        const IN: usize,
        const OUT: usize,
        const M: usize,
    >(
        node: &Node<P, T, IN, OUT, M>,
        id: &NodeId,
    ) -> i16 {
        node.peers()
            .get(id)
            .and_then(|p| p.rssi)
            .unwrap_or(i16::MIN)
    }

    /// Feed one core event; `read_sensor` is called when a reading is due.
    pub fn on_event<
        const P: usize,
        const T: usize,
        const IN: usize,
        const OUT: usize,
        const M: usize,
    >(
        &mut self,
        node: &mut Node<P, T, IN, OUT, M>,
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
                    topic: TOPIC,
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

/// `23.5`-style text with one decimal (truncated towards zero), without pulling in float formatting.
pub fn format_celsius(c: f32, out: &mut [u8; 16]) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;
    use hyphae_core::{Config, LinkAddr, LinkInfo, LinkKind, RxMeta, SimNode};
    use hyphae_wire::beacon::Capabilities;

    /// One radio neighbourhood: node i hears node j at `rssi[i][j]` dBm (`None`: out of range).
    struct Air {
        nodes: Vec<SimNode>,
        macs: Vec<[u8; 6]>,
        rssi: Vec<Vec<Option<i16>>>,
        now: Instant,
    }

    /// What the gateways in the test received.
    #[derive(Default)]
    struct Gateways {
        publishes: Vec<(usize, String, Vec<u8>)>,
        connects: Vec<usize>,
    }

    impl Air {
        fn new(rssi: Vec<Vec<Option<i16>>>, gateways: &[usize]) -> Self {
            let n = rssi.len();
            let mut nodes = Vec::new();
            let mut macs = Vec::new();
            for i in 0..n {
                let mut config = Config::default();
                config.insecure = true;
                if gateways.contains(&i) {
                    config.capabilities = Capabilities::GATEWAY | Capabilities::ROUTER;
                }
                let mut node = SimNode::new(config, NodeId([i as u8 + 1; 8]), i as u64);
                node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
                    .unwrap();
                if gateways.contains(&i) {
                    node.register_app(hyphae_wire::device::APP_NAME).unwrap();
                }
                nodes.push(node);
                macs.push([0x24, 0x6f, 0x28, 0, 0, i as u8]);
            }
            Self {
                nodes,
                macs,
                rssi,
                now: Instant::ZERO,
            }
        }

        /// Advance 5 ms: move every frame, then hand events to the device (node 0) and the
        /// gateways.
        fn step(&mut self, dev: &mut DeviceApp, gw: &mut Gateways, notes: &mut Vec<Note>) {
            self.now = self.now + Duration::from_millis(5);
            let now = self.now;
            let link = hyphae_core::LinkId(0);
            let mut buf = [0u8; 250];
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].poll_transmit(now, &mut buf) {
                    let from = LinkAddr::new(&self.macs[i]).unwrap();
                    for j in 0..self.nodes.len() {
                        let to_j = t.to.is_broadcast() || t.to.as_bytes() == self.macs[j];
                        if j == i || !to_j {
                            continue;
                        }
                        if let Some(rssi) = self.rssi[j][i] {
                            let meta = RxMeta {
                                rssi: Some(rssi),
                                snr: None,
                            };
                            self.nodes[j].handle_datagram(now, link, from, meta, &buf[..t.len]);
                        }
                    }
                }
            }
            while let Some(ev) = self.nodes[0].poll_event() {
                if let Some(n) = dev.on_event(&mut self.nodes[0], now, &ev, || 21.5) {
                    notes.push(n);
                }
            }
            for g in 1..self.nodes.len() {
                while let Some(ev) = self.nodes[g].poll_event() {
                    let Event::Delivered(d) = ev else { continue };
                    let mut b = vec![0u8; d.len];
                    self.nodes[g].take_delivery(d.id, &mut b).unwrap();
                    let Ok(p) = Packet::new_checked(&b[..]) else {
                        continue;
                    };
                    match Repr::parse(&p) {
                        Ok(Repr::Connect { .. }) => {
                            gw.connects.push(g);
                            let r = Repr::ConnAck {
                                code: ReturnCode::Accepted,
                                session: g as u16,
                            };
                            let mut out = vec![0u8; r.buffer_len()];
                            r.emit(&mut Packet::new_unchecked(&mut out[..])).unwrap();
                            self.nodes[g].send(now, d.app, d.from, &out).unwrap();
                        }
                        Ok(Repr::Publish { topic, payload, .. }) => {
                            gw.publishes.push((g, topic.into(), payload.to_vec()));
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    fn run(air: &mut Air, dev: &mut DeviceApp, gw: &mut Gateways, secs: u64) -> Vec<Note> {
        let mut notes = Vec::new();
        for _ in 0..secs * 200 {
            air.step(dev, gw, &mut notes);
        }
        notes
    }

    #[test]
    fn publishes_to_the_nearest_gateway() {
        // Node 0 the device; gateways 1 (far, -85 dBm) and 2 (near, -45 dBm).
        let mut air = Air::new(
            vec![
                vec![None, Some(-85), Some(-45)],
                vec![Some(-85), None, None],
                vec![Some(-45), None, None],
            ],
            &[1, 2],
        );
        let mac = air.macs[0];
        let mut dev = DeviceApp::new(
            &mut air.nodes[0],
            Instant::ZERO,
            mac,
            Duration::from_secs(10),
        )
        .unwrap();
        let mut gw = Gateways::default();
        let notes = run(&mut air, &mut dev, &mut gw, 45);
        assert!(notes.contains(&Note::Connecting), "{notes:?}");
        assert_eq!(
            dev.gateway().map(|g| g.0),
            Some(NodeId([3; 8])),
            "{notes:?}"
        );
        assert!(gw.connects.contains(&1) && gw.connects.contains(&2));
        let near: Vec<_> = gw.publishes.iter().filter(|p| p.0 == 2).collect();
        assert!(near.len() >= 3, "{notes:?}");
        assert!(gw.publishes.iter().all(|p| p.0 == 2));
        assert!(near.iter().all(|p| p.1 == TOPIC && p.2 == b"21.5"));
        println!(
            "{} publishes to the near gateway, notes {notes:?}",
            near.len()
        );
    }

    #[test]
    fn fails_over_when_the_gateway_goes_silent() {
        let mut air = Air::new(
            vec![
                vec![None, Some(-85), Some(-45)],
                vec![Some(-85), None, None],
                vec![Some(-45), None, None],
            ],
            &[1, 2],
        );
        let mac = air.macs[0];
        let mut dev = DeviceApp::new(
            &mut air.nodes[0],
            Instant::ZERO,
            mac,
            Duration::from_secs(10),
        )
        .unwrap();
        let mut gw = Gateways::default();
        run(&mut air, &mut dev, &mut gw, 30);
        assert_eq!(dev.gateway().map(|g| g.0), Some(NodeId([3; 8])));
        // Gateway 2 goes out of range both ways.
        air.rssi[0][2] = None;
        air.rssi[2][0] = None;
        let before = gw.publishes.len();
        let notes = run(&mut air, &mut dev, &mut gw, 90);
        assert!(
            notes.iter().any(|n| matches!(n, Note::Lost(_))),
            "{notes:?}"
        );
        assert_eq!(
            dev.gateway().map(|g| g.0),
            Some(NodeId([2; 8])),
            "{notes:?}"
        );
        assert!(gw.publishes[before..].iter().any(|p| p.0 == 1), "{notes:?}");
    }

    #[test]
    fn celsius_text() {
        let mut b = [0u8; 16];
        let n = format_celsius(21.57, &mut b);
        assert_eq!(&b[..n], b"21.5");
        let n = format_celsius(-3.25, &mut b);
        assert_eq!(&b[..n], b"-3.2");
        let n = format_celsius(0.0, &mut b);
        assert_eq!(&b[..n], b"0.0");
    }
}
