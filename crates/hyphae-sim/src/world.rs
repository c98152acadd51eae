//! The discrete-event world: real `hyphae-core` nodes on a virtual clock, joined by a modelled
//! medium. Events are ordered by (time, insertion sequence), so a run is a pure function of
//! the scenario and its seed.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::rc::Rc;

use hyphae_core::{
    AppId, Config, Event, Instant, LinkAddr, LinkEvent, LinkId, Node, NodeId, RxMeta,
};

use hyphae_core::security::Provisioner;

use crate::radio::{PathLoss, Radio};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::stats::{FrameClass, Stats};
use crate::topology::Graph;
use crate::traffic::Traffic;

/// The simulated node id of index `i`: a bijective scramble of the index, so ids (and their
/// 4-byte short forms) look as random as real ones derived from public keys.
pub fn node_id(i: usize) -> NodeId {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    NodeId((z ^ (z >> 31)).to_be_bytes())
}

/// 32 seed bytes for `(scenario seed, purpose, index)`.
fn seed32(seed: u64, purpose: u64, i: u64) -> [u8; 32] {
    let mut r = Rng::new(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d), 100 + purpose);
    let mut out = [0u8; 32];
    for c in out.chunks_mut(8) {
        c.copy_from_slice(&r.next_u64().to_le_bytes());
    }
    out
}

/// The simulated link address (6 bytes, MAC-like) of index `i`.
pub fn link_addr(i: usize) -> LinkAddr {
    let b = (i as u32).to_be_bytes();
    LinkAddr::new(&[0x02, 0x68, b[0], b[1], b[2], b[3]]).unwrap_or(LinkAddr::BROADCAST)
}

/// The index behind a simulated link address.
pub fn index_of(addr: &LinkAddr) -> Option<usize> {
    match addr.as_bytes() {
        [0x02, 0x68, a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d]) as usize),
        _ => None,
    }
}

/// A frame on the air.
#[derive(Debug, Clone)]
pub(crate) struct AirFrame {
    uid: u64,
    from: u32,
    /// The sender's life (crash/restart epoch) when it started sending.
    epoch: u32,
    /// Unicast target.
    to: Option<u32>,
    bytes: Rc<[u8]>,
}

#[derive(Debug, Clone)]
pub(crate) enum Ev {
    /// A node's own deadline (valid while `generator` matches).
    Timer { node: u32, generator: u32 },
    /// Channel access for the frame a node holds (after DIFS + backoff).
    Access { node: u32, epoch: u32 },
    /// A transmission ends: receptions resolve.
    TxEnd(Box<AirFrame>),
    /// A delayed reception (reordering, duplication, LAN latency).
    Rx {
        node: u32,
        frame: Box<AirFrame>,
        flip: Option<u32>,
        rssi: Option<i16>,
    },
    /// A traffic generator's next step.
    Traffic { generator: u32, node: u32 },
    /// A scheduled scenario action.
    Action(u32),
}

struct Entry {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        // Min-heap on (time, sequence).
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RadioState {
    Idle,
    /// Holding a frame, waiting for channel access.
    Access,
    /// Transmitting until the given time.
    Tx(u64),
}

pub(crate) struct Slot<
    const P: usize,
    const T: usize,
    const IN: usize,
    const OUT: usize,
    const M: usize,
> {
    pub(crate) node: Box<Node<P, T, IN, OUT, M>>,
    link: LinkId,
    pub(crate) alive: bool,
    epoch: u32,
    timer_at: u64,
    timer_gen: u32,
    radio: RadioState,
    held: Option<(Option<u32>, Rc<[u8]>)>,
    /// Carrier sensed busy until.
    busy_until: u64,
    rx_uid: u64,
    rx_end: u64,
    rx_ok: bool,
    /// Airtime this node used, µs.
    pub(crate) airtime_us: u64,
    /// Unacknowledged unicast attempts in a row (MAC contention-window doubling).
    mac_fails: u32,
    /// Static routes the simulator installed (oldest first).
    pub(crate) routes: VecDeque<NodeId>,
    /// The counter reservation this node's shell stored last (survives crashes).
    pub(crate) stored: Option<u64>,
}

/// A snapshot of which nodes and links work (one per change).
pub(crate) struct TopoVersion {
    pub(crate) alive: Vec<bool>,
    pub(crate) cuts: HashSet<(u32, u32)>,
    pub(crate) comp: Vec<u32>,
}

/// The world.
pub(crate) struct World<
    const P: usize,
    const T: usize,
    const IN: usize,
    const OUT: usize,
    const M: usize,
> {
    pub(crate) sc: Scenario,
    pub(crate) radio: Radio,
    pub(crate) graph: Graph,
    /// Per node: nodes in carrier-sense / interference range without a link.
    far: Vec<Vec<u32>>,
    /// Node ids (from the nodes' identities when secure).
    pub(crate) ids: Vec<NodeId>,
    /// Nodes provisioned for another network (outsiders).
    pub(crate) outsider: Vec<bool>,
    /// The network's and the outsiders' provisioning.
    net: Option<(Provisioner, Provisioner)>,
    pub(crate) config: Config,
    pub(crate) app: AppId,
    pub(crate) slots: Vec<Slot<P, T, IN, OUT, M>>,
    queue: BinaryHeap<Entry>,
    seq: u64,
    pub(crate) now: u64,
    next_uid: u64,
    pub(crate) medium_rng: Rng,
    pub(crate) traffic_rng: Rng,
    pub(crate) cuts: HashSet<(u32, u32)>,
    pub(crate) versions: Vec<TopoVersion>,
    pathloss: Option<PathLoss>,
    pub(crate) stats: Stats,
    pub(crate) traffic: Traffic,
    pub(crate) events: u64,
    rx_buf: Vec<u8>,
    /// Set while a node's own timer is being handled (guards against zero-progress loops).
    in_timer: Option<u32>,
}

fn edge_key(a: u32, b: u32) -> (u32, u32) {
    if a < b { (a, b) } else { (b, a) }
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    World<P, T, IN, OUT, M>
{
    pub(crate) fn new(sc: Scenario, graph: Graph, config: Config) -> Self {
        let radio = Radio::from_scenario(&sc);
        let n = graph.len();
        let pathloss = (sc.range == "pathloss" && graph.positions.is_some())
            .then(|| PathLoss::new(sc.radio_range));
        let far = if radio.shared_medium() && sc.sense_range > 1.0 {
            graph.within(sc.radio_range * sc.sense_range)
        } else {
            vec![Vec::new(); n]
        };
        let net = sc.security.then(|| {
            (
                Provisioner::new(&seed32(sc.seed, 1, 0), b"hyphae-sim", seed32(sc.seed, 2, 0)),
                Provisioner::new(&seed32(sc.seed, 3, 0), b"hyphae-sim", seed32(sc.seed, 4, 0)),
            )
        });
        let mut outsider = vec![false; n];
        let mut pick = Rng::new(sc.seed, 7);
        let want = sc.outsiders.min(n.saturating_sub(2));
        while outsider.iter().filter(|o| **o).count() < want {
            outsider[pick.below(n as u64) as usize] = true;
        }
        let mut w = Self {
            ids: (0..n).map(node_id).collect(),
            outsider,
            net,
            far,
            radio,
            config,
            app: AppId(0),
            slots: Vec::with_capacity(n),
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0,
            next_uid: 1,
            medium_rng: Rng::new(sc.seed, 2),
            traffic_rng: Rng::new(sc.seed, 3),
            cuts: HashSet::new(),
            versions: Vec::new(),
            pathloss,
            stats: Stats::new(&sc),
            traffic: Traffic::default(),
            events: 0,
            rx_buf: vec![0; 1 << 20],
            in_timer: None,
            graph,
            sc,
        };
        for i in 0..n {
            let slot = w.fresh_slot(i, 0, None);
            w.slots.push(slot);
        }
        w.snapshot_topology();
        for i in 0..n {
            w.boot(i);
        }
        w
    }

    fn fresh_slot(&mut self, i: usize, epoch: u32, stored: Option<u64>) -> Slot<P, T, IN, OUT, M> {
        let security = self.net.as_ref().and_then(|(net, evil)| {
            let p = if self.outsider[i] { evil } else { net };
            p.node_resumed(&seed32(self.sc.seed, 5, i as u64), stored)
                .ok()
        });
        if let Some((id, _)) = &security {
            self.ids[i] = *id;
        }
        let mut config = self.config;
        config.insecure = security.is_none();
        let mut node = Box::new(Node::new(
            config,
            self.ids[i],
            self.sc
                .seed
                .wrapping_mul(0x9e37_79b9)
                .wrapping_add(u64::from(epoch)),
        ));
        let link = node.add_link(self.radio.link_info()).unwrap_or(LinkId(0));
        if let Ok(app) = node.register_app(crate::APP_NAME) {
            self.app = app;
        }
        if let Some((_, sec)) = security {
            // Cannot fail: the node was created with the identity's id.
            let _ = node.set_security(sec);
        }
        Slot {
            node,
            link,
            alive: true,
            epoch,
            timer_at: u64::MAX,
            timer_gen: 0,
            radio: RadioState::Idle,
            held: None,
            busy_until: 0,
            rx_uid: 0,
            rx_end: 0,
            rx_ok: false,
            airtime_us: 0,
            mac_fails: 0,
            routes: VecDeque::new(),
            stored,
        }
    }

    /// Start (or restart) node `i` at the current time, staggered by a random delay below
    /// one beacon interval so beacons do not all collide at time zero.
    fn boot(&mut self, i: usize) {
        let stagger = (self.medium_rng.f64() * self.sc.beacon_interval * 1e6) as u64;
        let s = &mut self.slots[i];
        s.timer_gen = s.timer_gen.wrapping_add(1);
        s.timer_at = self.now + stagger;
        let ev = Ev::Timer {
            node: i as u32,
            generator: s.timer_gen,
        };
        self.schedule(self.now + stagger, ev);
    }

    pub(crate) fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Entry {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Record the current alive set and cuts as a new topology version.
    pub(crate) fn snapshot_topology(&mut self) {
        // Outsiders relay nothing for the network: they count as absent.
        let alive: Vec<bool> = self
            .slots
            .iter()
            .zip(&self.outsider)
            .map(|(s, o)| s.alive && !o)
            .collect();
        let cuts = self.cuts.clone();
        let comp = {
            let g = self.graph.clone_filtered(&cuts);
            g.components(&alive)
        };
        self.versions.push(TopoVersion { alive, cuts, comp });
    }

    pub(crate) fn version(&self) -> u32 {
        (self.versions.len() - 1) as u32
    }

    pub(crate) fn edge_up(&self, a: u32, b: u32) -> bool {
        self.cuts.is_empty() || !self.cuts.contains(&edge_key(a, b))
    }

    pub(crate) fn cut(&mut self, a: u32, b: u32) {
        self.cuts.insert(edge_key(a, b));
    }

    /// Run until `end` µs (or the queue empties); `tick` is called about every 64k events.
    pub(crate) fn run(&mut self, end: u64, mut tick: impl FnMut(u64, u64)) {
        while let Some(top) = self.queue.peek() {
            if top.at > end {
                break;
            }
            let Some(Entry { at, ev, .. }) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.events += 1;
            if self.events & 0xffff == 0 {
                tick(self.now, self.events);
            }
            self.dispatch(ev);
        }
        self.now = end;
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Timer { node, generator } => {
                let s = &mut self.slots[node as usize];
                if !s.alive || s.timer_gen != generator {
                    return;
                }
                s.timer_at = u64::MAX;
                s.node.handle_timeout(Instant::from_micros(self.now));
                self.in_timer = Some(node);
                self.drain(node as usize);
                self.in_timer = None;
            }
            Ev::Access { node, epoch } => self.access(node as usize, epoch),
            Ev::TxEnd(f) => self.tx_end(*f),
            Ev::Rx {
                node,
                frame,
                flip,
                rssi,
            } => self.receive(node as usize, &frame, flip, rssi),
            Ev::Traffic { generator, node } => self.traffic_step(generator as usize, node as usize),
            Ev::Action(i) => self.action(i as usize),
        }
    }

    /// After any input to node `i`: hand its events to the traffic layer, re-arm its timer and
    /// let its radio pull the next frame.
    pub(crate) fn drain(&mut self, i: usize) {
        while let Some(ev) = self.slots[i].node.poll_event() {
            match ev {
                Event::Delivered(d) => {
                    let n = self.slots[i]
                        .node
                        .take_delivery(d.id, &mut self.rx_buf)
                        .unwrap_or(0);
                    let payload = std::mem::take(&mut self.rx_buf);
                    self.on_delivered(i, &d, &payload[..n.min(payload.len())]);
                    self.rx_buf = payload;
                }
                Event::SendDone { id, .. } => self.on_send_done(i, id.0, None),
                Event::SendFailed { id, reason, .. } => self.on_send_done(i, id.0, Some(reason)),
                Event::CounterReserve(r) => {
                    // The shell stores the reservation (it survives a crash), then confirms.
                    self.slots[i].stored = Some(r);
                    self.slots[i].node.counter_persisted(r);
                }
                _ => {}
            }
        }
        self.rearm(i);
        self.try_tx(i);
    }

    fn rearm(&mut self, i: usize) {
        let now = self.now;
        let in_timer = self.in_timer == Some(i as u32);
        let s = &mut self.slots[i];
        let Some(t) = s.node.poll_timeout() else {
            s.timer_at = u64::MAX;
            s.timer_gen = s.timer_gen.wrapping_add(1);
            return;
        };
        let mut at = t.as_micros().max(now);
        if in_timer && at <= now {
            // The node asked to be woken at the instant it was just woken: step the clock.
            at = now + 1;
        }
        if at == s.timer_at {
            return;
        }
        s.timer_gen = s.timer_gen.wrapping_add(1);
        s.timer_at = at;
        let ev = Ev::Timer {
            node: i as u32,
            generator: s.timer_gen,
        };
        self.schedule(at, ev);
    }

    /// Let node `i`'s radio take the next frame if it is idle.
    fn try_tx(&mut self, i: usize) {
        let s = &mut self.slots[i];
        if !s.alive || s.radio != RadioState::Idle {
            return;
        }
        let mut buf = [0u8; M];
        let Some(t) = s
            .node
            .poll_transmit(Instant::from_micros(self.now), &mut buf)
        else {
            return;
        };
        let len = t.len.min(M);
        let to = if t.to.is_broadcast() {
            None
        } else {
            match index_of(&t.to) {
                Some(j) if j < self.slots.len() => Some(j as u32),
                _ => {
                    // An address no simulated node has: it goes nowhere.
                    self.stats.bad_address += 1;
                    return;
                }
            }
        };
        let bytes: Rc<[u8]> = Rc::from(&buf[..len]);
        if self.radio.carrier_sense() {
            let epoch = self.slots[i].epoch;
            self.slots[i].held = Some((to, bytes));
            self.slots[i].radio = RadioState::Access;
            let d = self
                .radio
                .access_delay_us(self.slots[i].mac_fails, &mut self.medium_rng);
            self.schedule(
                self.now + d,
                Ev::Access {
                    node: i as u32,
                    epoch,
                },
            );
        } else {
            self.start_tx(i, to, bytes);
        }
    }

    fn access(&mut self, i: usize, epoch: u32) {
        let now = self.now;
        let s = &mut self.slots[i];
        if !s.alive || s.epoch != epoch || s.radio != RadioState::Access {
            return;
        }
        if s.busy_until > now {
            // Carrier sensed: defer past the busy period with a fresh backoff.
            let at = s.busy_until
                + self
                    .radio
                    .access_delay_us(s.mac_fails, &mut self.medium_rng);
            self.stats.deferrals += 1;
            self.schedule(
                at,
                Ev::Access {
                    node: i as u32,
                    epoch,
                },
            );
            return;
        }
        if let Some((to, bytes)) = s.held.take() {
            self.start_tx(i, to, bytes);
        } else {
            s.radio = RadioState::Idle;
        }
    }

    fn start_tx(&mut self, i: usize, to: Option<u32>, bytes: Rc<[u8]>) {
        let now = self.now;
        let air = self.radio.airtime_us(bytes.len(), to.is_some()).max(1);
        let end = now + air;
        let uid = self.next_uid;
        self.next_uid += 1;
        let class = FrameClass::of(&bytes);
        self.stats.on_tx(now, class, bytes.len(), air);
        let shared = self.radio.shared_medium();
        let collisions = shared && self.sc.collisions;
        {
            let s = &mut self.slots[i];
            s.airtime_us += air;
            s.radio = RadioState::Tx(end);
            if collisions && s.rx_end > now && s.rx_ok {
                // Half duplex: sending ruins what this radio was receiving.
                s.rx_ok = false;
            }
        }
        if shared {
            for k in 0..self.graph.neighbours(i).len() {
                let j = self.graph.neighbours(i)[k];
                if !self.edge_up(i as u32, j) {
                    continue;
                }
                let r = &mut self.slots[j as usize];
                if !r.alive {
                    continue;
                }
                r.busy_until = r.busy_until.max(end);
                if !collisions {
                    continue;
                }
                if matches!(r.radio, RadioState::Tx(u) if u > now) {
                    continue;
                }
                if r.rx_end > now {
                    if r.rx_ok {
                        self.stats.collisions += 1;
                    }
                    r.rx_ok = false;
                    if end > r.rx_end {
                        r.rx_uid = uid;
                        r.rx_end = end;
                    }
                } else {
                    r.rx_uid = uid;
                    r.rx_end = end;
                    r.rx_ok = true;
                }
            }
        }
        if shared {
            // Nodes in sense range but without a link: they defer to the frame and it ruins
            // what they are receiving meanwhile (no capture).
            for k in 0..self.far[i].len() {
                let j = self.far[i][k] as usize;
                let r = &mut self.slots[j];
                if !r.alive {
                    continue;
                }
                r.busy_until = r.busy_until.max(end);
                if !collisions || matches!(r.radio, RadioState::Tx(u) if u > now) {
                    continue;
                }
                if r.rx_end > now && r.rx_ok {
                    self.stats.collisions += 1;
                }
                r.rx_ok = false;
                if end > r.rx_end {
                    r.rx_uid = 0;
                    r.rx_end = end;
                }
            }
        }
        let f = AirFrame {
            uid,
            from: i as u32,
            epoch: self.slots[i].epoch,
            to,
            bytes,
        };
        self.schedule(end, Ev::TxEnd(Box::new(f)));
    }

    fn tx_end(&mut self, f: AirFrame) {
        let i = f.from as usize;
        let sender_ok = self.slots[i].alive && self.slots[i].epoch == f.epoch;
        let collisions = self.radio.shared_medium() && self.sc.collisions;
        let mut acked = false;
        if sender_ok {
            for k in 0..self.graph.neighbours(i).len() {
                let j = self.graph.neighbours(i)[k];
                if !self.edge_up(f.from, j) || !self.slots[j as usize].alive {
                    continue;
                }
                if collisions {
                    let r = &self.slots[j as usize];
                    if r.rx_uid != f.uid || !r.rx_ok {
                        continue;
                    }
                }
                if f.to.is_some_and(|t| t != j) {
                    // Overheard unicast: the MAC filters it.
                    continue;
                }
                let (p_loss, rssi) = self.link_loss(f.from, j);
                if self.medium_rng.chance(p_loss) {
                    self.stats.frames_lost += 1;
                    continue;
                }
                if f.to == Some(j) {
                    acked = true;
                }
                self.deliver(j as usize, &f, rssi);
            }
        }
        if f.to.is_some() && sender_ok {
            self.stats.unicast_sent += 1;
            if acked {
                self.stats.unicast_acked += 1;
            }
        }
        let s = &mut self.slots[i];
        if s.alive && s.epoch == f.epoch {
            s.radio = RadioState::Idle;
            if f.to.is_some() {
                s.mac_fails = if acked { 0 } else { s.mac_fails + 1 };
            }
            if f.to.is_some() && self.radio.reports_tx() {
                let link = s.link;
                s.node.handle_link_event(
                    Instant::from_micros(self.now),
                    link,
                    LinkEvent::TxDone { ok: acked },
                );
            }
            self.drain(i);
        }
    }

    /// Loss probability and RSSI of the link `a → b`.
    fn link_loss(&self, a: u32, b: u32) -> (f64, Option<i16>) {
        let Some(pl) = &self.pathloss else {
            return (self.sc.loss, None);
        };
        let Some(pos) = &self.graph.positions else {
            return (self.sc.loss, None);
        };
        let (pa, pb) = (pos[a as usize], pos[b as usize]);
        let d = ((pa.0 - pb.0).powi(2) + (pa.1 - pb.1).powi(2)).sqrt();
        // Shadowing fixed per link: a hash of the pair and the seed.
        let (x, y) = edge_key(a, b);
        let mut h = Rng::new(self.sc.seed ^ (u64::from(x) << 32 | u64::from(y)), 9);
        let shadow = h.normal() * pl.shadowing_db;
        let m = pl.margin_db(d, shadow);
        let p = 1.0 - (1.0 - self.sc.loss) * (1.0 - pl.loss(m));
        (p, Some(pl.rssi(m)))
    }

    /// A frame reached node `j` intact at the physical layer: apply duplication, reordering
    /// and corruption, then hand it over (now or later).
    fn deliver(&mut self, j: usize, f: &AirFrame, rssi: Option<i16>) {
        let flip = self
            .medium_rng
            .chance(self.sc.corrupt)
            .then(|| self.medium_rng.below(f.bytes.len() as u64 * 8) as u32);
        let lan = if self.radio.shared_medium() {
            0
        } else {
            self.radio.airtime_us(f.bytes.len(), false)
        };
        let delay = if self.medium_rng.chance(self.sc.reorder) {
            (self.medium_rng.f64() * self.sc.reorder_ms * 1000.0) as u64
        } else {
            0
        };
        if delay + lan == 0 {
            self.receive(j, f, flip, rssi);
        } else {
            let ev = Ev::Rx {
                node: j as u32,
                frame: Box::new(f.clone()),
                flip,
                rssi,
            };
            self.schedule(self.now + delay + lan, ev);
        }
        if self.medium_rng.chance(self.sc.duplicate) {
            self.stats.duplicated += 1;
            let ev = Ev::Rx {
                node: j as u32,
                frame: Box::new(f.clone()),
                flip: None,
                rssi,
            };
            let d = 1000 + self.medium_rng.below(10_000);
            self.schedule(self.now + lan + d, ev);
        }
    }

    fn receive(&mut self, j: usize, f: &AirFrame, flip: Option<u32>, rssi: Option<i16>) {
        let snr = None;
        let s = &mut self.slots[j];
        if !s.alive {
            return;
        }
        let meta = RxMeta { rssi, snr };
        let from = link_addr(f.from as usize);
        let link = s.link;
        let now = Instant::from_micros(self.now);
        self.stats.frames_received += 1;
        match flip {
            Some(bit) => {
                let mut b = f.bytes.to_vec();
                if let Some(x) = b.get_mut((bit / 8) as usize) {
                    *x ^= 1 << (bit % 8);
                }
                self.stats.corrupted += 1;
                s.node.handle_datagram(now, link, from, meta, &b);
            }
            None => s.node.handle_datagram(now, link, from, meta, &f.bytes),
        }
        self.drain(j);
    }

    /// Crash node `i`: it stops at once; its state is gone.
    pub(crate) fn crash(&mut self, i: usize) {
        let s = &mut self.slots[i];
        if !s.alive {
            return;
        }
        s.alive = false;
        s.epoch = s.epoch.wrapping_add(1);
        s.timer_gen = s.timer_gen.wrapping_add(1);
        s.radio = RadioState::Idle;
        s.held = None;
        s.routes.clear();
        self.stats.crashes += 1;
    }

    /// Boot crashed node `i` again with empty state.
    pub(crate) fn restart(&mut self, i: usize) {
        if self.slots[i].alive {
            return;
        }
        let epoch = self.slots[i].epoch.wrapping_add(1);
        let generator = self.slots[i].timer_gen;
        let stored = self.slots[i].stored;
        let mut slot = self.fresh_slot(i, epoch, stored);
        slot.timer_gen = generator;
        self.slots[i] = slot;
        self.boot(i);
        self.stats.restarts += 1;
    }

    /// Largest airtime share any node used so far.
    pub(crate) fn max_duty_cycle(&self) -> f64 {
        let t = self.now.max(1) as f64;
        self.slots
            .iter()
            .map(|s| s.airtime_us as f64 / t)
            .fold(0.0, f64::max)
    }
}

impl Graph {
    /// A copy without the cut edges.
    pub(crate) fn clone_filtered(&self, cuts: &HashSet<(u32, u32)>) -> Self {
        if cuts.is_empty() {
            return self.clone();
        }
        let mut g = Self::empty(self.len());
        for (a, b) in self.edges() {
            if !cuts.contains(&edge_key(a as u32, b as u32)) {
                g.add_edge(a, b);
            }
        }
        g
    }
}
