//! A small in-crate harness: a handful of nodes on a virtual clock over a seeded lossy channel
//! (loss, duplication, reordering), with an airtime model of ESP-NOW v1 at 1 Mbit/s
//! (`RADIOS.md` §1.3). Used by the integration tests and by `examples/bulk.rs`.
//!
//! Radio model: every node has one radio that sends one frame at a time; a frame occupies the
//! medium for its 802.11b cycle (DIFS + mean back-off + PLCP + MPDU, plus SIFS + MAC ack for
//! unicast) at the sender and at every node in range (carrier sense: they defer), and arrives at
//! the end of it (plus a random reordering delay). No collisions (hidden terminals are not
//! modelled); loss applies independently per receiver and frame.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use core::time::Duration;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hyphae_core::{
    AppId, Config, Event, Instant, LinkAddr, LinkEvent, LinkId, LinkInfo, LinkKind, Node, NodeId,
    RxMeta,
};

/// The node type the harness drives: room for one 64 KiB blob each way.
pub type TNode = Node<16, 8, 69_632, 69_632, 250>;

/// Channel impairments, as probabilities per frame and receiver.
#[derive(Debug, Clone, Copy)]
pub struct Channel {
    /// Probability a frame is lost.
    pub loss: f64,
    /// Probability a frame arrives twice.
    pub dup: f64,
    /// Probability a frame is delayed by up to `reorder_delay` (so it may overtake others).
    pub reorder: f64,
    /// Largest extra delay of a reordered or duplicated frame.
    pub reorder_delay: Duration,
}

impl Channel {
    /// A perfect channel.
    pub const PERFECT: Self = Self {
        loss: 0.0,
        dup: 0.0,
        reorder: 0.0,
        reorder_delay: Duration::from_millis(5),
    };
    /// Only loss.
    pub fn lossy(loss: f64) -> Self {
        Self {
            loss,
            ..Self::PERFECT
        }
    }
}

/// ESP-NOW v1 at 1 Mbit/s, long preamble: time one frame of `payload` bytes occupies the radio.
pub fn espnow_cycle(payload: usize, unicast: bool) -> Duration {
    let n_el = payload.div_ceil(250).max(1);
    let mpdu = 24 + 1 + 3 + 4 + 7 * n_el + payload + 4;
    let t_tx = 192 + 8 * mpdu as u64;
    let mut cycle = 50 + 310 + t_tx;
    if unicast {
        cycle += 10 + 192 + 14 * 8;
    }
    Duration::from_micros(cycle)
}

/// SplitMix64, the harness's own seeded randomness.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5151_5151_5151_5151)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// Something that happened at a node, with its time.
#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub node: usize,
    pub event: Event,
    /// The payload of a `Delivered` event (taken at once).
    pub payload: Option<Vec<u8>>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    from: usize,
    bytes: Vec<u8>,
}

/// Nodes, who hears whom, and frames in flight.
pub struct World {
    pub nodes: Vec<Box<TNode>>,
    pub now: Instant,
    pub channel: Channel,
    pub rng: Rng,
    /// `hears[i]` = nodes that receive what `i` sends.
    pub hears: Vec<Vec<usize>>,
    radio_free: Vec<Instant>,
    flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    pub log: Vec<Logged>,
    /// Frames put on the air, per node.
    pub frames_sent: Vec<u64>,
    /// When false, nothing is delivered (a partition).
    pub links_up: bool,
    /// Print every frame put on the air to stderr.
    pub trace: bool,
    /// A send whose progress the trace prints.
    pub watch: Option<hyphae_core::SendId>,
    /// Radios switched off after `MaySleepUntil` until that instant (frames to them are lost).
    pub asleep_until: Vec<Instant>,
    /// Total time each radio slept.
    pub slept: Vec<Duration>,
    /// Frames that arrived at a sleeping radio.
    pub missed_asleep: u64,
    /// Report each unicast frame's link-layer outcome (ESP-NOW's send callback) as
    /// `LinkEvent::TxDone` when the frame ends.
    pub tx_status: bool,
    statuses: Vec<(Instant, usize, bool)>,
    /// When set, every frame put on the air is kept here with its sender.
    pub recorded: Option<Vec<(usize, Vec<u8>)>>,
}

pub fn addr(i: usize) -> LinkAddr {
    LinkAddr::new(&[i as u8 + 1; 6]).unwrap()
}

pub fn node_id(i: usize) -> NodeId {
    NodeId([i as u8 + 1; 8])
}

impl World {
    /// `n` nodes, all with `config`, none hearing each other yet.
    pub fn new(n: usize, config: Config, channel: Channel, seed: u64) -> Self {
        // The transport harness tests the node without frame security (`tests/secure.rs` and
        // the simulator test it with).
        let config = Config {
            insecure: true,
            ..config
        };
        let mut nodes = Vec::new();
        for i in 0..n {
            let mut node = Box::new(TNode::new(config, node_id(i), seed.wrapping_add(i as u64)));
            node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
                .unwrap();
            nodes.push(node);
        }
        Self {
            nodes,
            now: Instant::ZERO,
            channel,
            rng: Rng::new(seed),
            hears: vec![Vec::new(); n],
            radio_free: vec![Instant::ZERO; n],
            flight: BinaryHeap::new(),
            seq: 0,
            log: Vec::new(),
            frames_sent: vec![0; n],
            links_up: true,
            trace: false,
            watch: None,
            asleep_until: vec![Instant::ZERO; n],
            slept: vec![Duration::ZERO; n],
            missed_asleep: 0,
            tx_status: false,
            statuses: Vec::new(),
            recorded: None,
        }
    }

    /// Everyone hears everyone.
    pub fn full_mesh(n: usize, config: Config, channel: Channel, seed: u64) -> Self {
        let mut w = Self::new(n, config, channel, seed);
        for i in 0..n {
            w.hears[i] = (0..n).filter(|&j| j != i).collect();
        }
        w
    }

    /// A chain 0 – 1 – … – n-1 with static routes along it.
    pub fn chain(n: usize, config: Config, channel: Channel, seed: u64) -> Self {
        let mut w = Self::new(n, config, channel, seed);
        for i in 0..n {
            if i > 0 {
                w.hears[i].push(i - 1);
            }
            if i + 1 < n {
                w.hears[i].push(i + 1);
            }
        }
        for i in 0..n {
            for d in 0..n {
                if d + 1 < i {
                    assert!(w.nodes[i].set_route(node_id(d), node_id(i - 1)));
                } else if d > i + 1 {
                    assert!(w.nodes[i].set_route(node_id(d), node_id(i + 1)));
                }
            }
        }
        w
    }

    /// Replace node `i` with a fresh one using `config` (before `settle`).
    pub fn reconfigure(&mut self, i: usize, config: Config, seed: u64) {
        let config = Config {
            insecure: true,
            ..config
        };
        let mut node = Box::new(TNode::new(config, node_id(i), seed));
        node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
            .unwrap();
        self.nodes[i] = node;
    }

    /// Register `name` on every node.
    pub fn register_all(&mut self, name: &str) -> AppId {
        let mut id = None;
        for n in &mut self.nodes {
            id = Some(n.register_app(name).unwrap());
        }
        id.unwrap()
    }

    fn transmit(&mut self, i: usize) {
        let mut buf = [0u8; 250];
        let Some(t) = self.nodes[i].poll_transmit(self.now, &mut buf) else {
            return;
        };
        assert_eq!(t.link, LinkId(0));
        let unicast = !t.to.is_broadcast();
        let end = self.now + espnow_cycle(t.len, unicast);
        self.radio_free[i] = end;
        // Carrier sense: everyone in range hears the medium busy and defers until it is free.
        for k in 0..self.hears[i].len() {
            let j = self.hears[i][k];
            self.radio_free[j] = self.radio_free[j].max(end);
        }
        self.frames_sent[i] += 1;
        if let Some(r) = self.recorded.as_mut() {
            r.push((i, buf[..t.len].to_vec()));
        }
        if self.trace {
            let f = hyphae_wire::FrameRepr::parse(&buf[..t.len]);
            match f {
                Ok(f) => {
                    let p = self.watch.and_then(|id| self.nodes[i].send_progress(id));
                    let dir = if unicast { "u" } else { "*" };
                    eprintln!("{} {i}->{dir} {f} {p:?}", self.now);
                }
                Err(e) => eprintln!("{} {i} unparsable {e}", self.now),
            }
        }
        if !self.links_up {
            if unicast && self.tx_status {
                self.statuses.push((end, i, false));
            }
            return;
        }
        let bytes = buf[..t.len].to_vec();
        let mut acked = false;
        for k in 0..self.hears[i].len() {
            let j = self.hears[i][k];
            if unicast && t.to != addr(j) {
                continue;
            }
            if self.rng.chance(self.channel.loss) {
                continue;
            }
            acked = end >= self.asleep_until[j];
            let copies = if self.rng.chance(self.channel.dup) {
                2
            } else {
                1
            };
            for c in 0..copies {
                let mut at = end;
                if c > 0 || self.rng.chance(self.channel.reorder) {
                    let us = self.channel.reorder_delay.as_micros() as u64;
                    at = at + Duration::from_micros(self.rng.below(us + 1));
                }
                self.seq += 1;
                self.flight.push(Reverse(InFlight {
                    at,
                    seq: self.seq,
                    to: j,
                    from: i,
                    bytes: bytes.clone(),
                }));
            }
        }
        if unicast && self.tx_status {
            self.statuses.push((end, i, acked));
        }
    }

    fn drain_events(&mut self, i: usize) {
        while let Some(e) = self.nodes[i].poll_event() {
            if let Event::MaySleepUntil(t) = e
                && t > self.now
            {
                self.slept[i] += t.saturating_since(self.now);
                self.asleep_until[i] = t;
            }
            let payload = match e {
                Event::Delivered(d) => {
                    let mut out = vec![0u8; d.len];
                    assert_eq!(self.nodes[i].take_delivery(d.id, &mut out), Some(d.len));
                    Some(out)
                }
                Event::Gossip { id, len, .. } => {
                    let mut out = vec![0u8; len];
                    assert_eq!(self.nodes[i].take_delivery(id, &mut out), Some(len));
                    Some(out)
                }
                _ => None,
            };
            self.log.push(Logged {
                at: self.now,
                node: i,
                event: e,
                payload,
            });
        }
    }

    /// Advance one step: deliver due frames, run timers, let free radios send. Returns false
    /// when nothing at all is scheduled.
    pub fn step(&mut self) -> bool {
        while let Some(Reverse(f)) = self.flight.peek() {
            if f.at > self.now {
                break;
            }
            let Reverse(f) = self.flight.pop().unwrap();
            if self.now < self.asleep_until[f.to] {
                self.missed_asleep += 1;
                continue;
            }
            self.nodes[f.to].handle_datagram(
                self.now,
                LinkId(0),
                addr(f.from),
                RxMeta::default(),
                &f.bytes,
            );
        }
        let mut k = 0;
        while k < self.statuses.len() {
            if self.statuses[k].0 <= self.now {
                let (_, i, ok) = self.statuses.swap_remove(k);
                self.nodes[i].handle_link_event(self.now, LinkId(0), LinkEvent::TxDone { ok });
            } else {
                k += 1;
            }
        }
        // Contention: nodes whose medium is free try in a random order (CSMA back-off), so no
        // node index has priority for the medium.
        let n = self.nodes.len();
        let start = self.rng.below(n as u64) as usize;
        for k in 0..n {
            let i = (start + k) % n;
            if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.nodes[i].handle_timeout(self.now);
            }
            if self.radio_free[i] <= self.now {
                self.transmit(i);
            }
            self.drain_events(i);
        }
        // Next instant.
        let mut next: Option<Instant> = self.flight.peek().map(|f| f.0.at);
        for (at, _, _) in &self.statuses {
            next = Some(next.map_or(*at, |n| n.min(*at)));
        }
        for i in 0..self.nodes.len() {
            let mut cand = self.nodes[i].poll_timeout();
            if self.radio_free[i] > self.now {
                // A busy radio may have more to send when it frees up.
                cand = Some(cand.map_or(self.radio_free[i], |c| c.min(self.radio_free[i])));
            }
            if let Some(c) = cand {
                next = Some(next.map_or(c, |n| n.min(c)));
            }
        }
        match next {
            Some(t) => {
                self.now = t.max(self.now + Duration::from_micros(1));
                true
            }
            None => false,
        }
    }

    /// Run until `deadline` or until `done` holds.
    pub fn run_until(&mut self, deadline: Instant, mut done: impl FnMut(&Self) -> bool) {
        while self.now < deadline && !done(self) {
            if !self.step() {
                break;
            }
        }
    }

    /// Run until every node knows all its radio neighbours.
    pub fn settle(&mut self) {
        let deadline = self.now + Duration::from_secs(30);
        self.run_until(deadline, |w| {
            (0..w.nodes.len()).all(|i| {
                w.hears[i]
                    .iter()
                    .all(|&j| w.nodes[j].peers().get(&node_id(i)).is_some())
            })
        });
    }

    pub fn deliveries(&self, node: usize) -> impl Iterator<Item = &Logged> {
        self.log
            .iter()
            .filter(move |l| l.node == node && matches!(l.event, Event::Delivered(_)))
    }

    /// The outcome of a send: `Some(Ok(at))`, `Some(Err(..))` or `None` while pending.
    pub fn outcome(
        &self,
        node: usize,
        id: hyphae_core::SendId,
    ) -> Option<Result<Instant, hyphae_core::FailReason>> {
        self.log.iter().find_map(|l| match l.event {
            Event::SendDone { id: s, .. } if l.node == node && s == id => Some(Ok(l.at)),
            Event::SendFailed { id: s, reason, .. } if l.node == node && s == id => {
                Some(Err(reason))
            }
            _ => None,
        })
    }
}
