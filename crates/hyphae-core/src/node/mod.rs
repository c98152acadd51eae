//! The sans-IO node: the one state machine a shell drives.

mod e2e;
mod flood;
mod link;
mod route;
mod routing;
mod rx;
mod secure;
mod transfer;
mod tree;
mod tx;

use core::time::Duration;

use hyphae_link::{LinkAddr, LinkInfo, RxMeta};
use hyphae_wire::{AppId, NodeId, PackageRepr};

use crate::arena::{Arena, Region};
use crate::config::Config;
use crate::event::{Counters, Delivery, DeliveryId, Event, FailReason, SendId};
use crate::links::{Link, LinkId};
use crate::peers::PeerTable;
use crate::rng::Rng;
use crate::time::{Instant, earliest};
use route::Route;

pub use e2e::{E2E_PENDING, E2E_SESSIONS, ENVELOPE_OVERHEAD};
pub use flood::{FLOOD_PENDING, FLOOD_SEEN};
pub use link::LINK_SESSIONS;
use routing::RoutingState;
pub use routing::RoutingStats;
pub use secure::SetSecurityError;
pub use transfer::MAX_WINDOW;
use transfer::{InTransfer, OutState, OutTransfer, PathRtt};
pub use tree::{
    MAX_TREES, NAME_CACHE, POSITION_REQUEST_TOPIC, POSITION_TOPIC, SERVICE_TOPIC, ServiceProvider,
    SignedAssignment,
};

/// Most links a node drives.
pub const MAX_LINKS: usize = 4;
/// Most applications a node runs.
pub const MAX_APPS: usize = 8;
/// Frames that wait in the control queue (beacons, notices, status, forwarded frames).
pub const CONTROL_QUEUE: usize = 16;
/// Events waiting for the shell.
pub const EVENT_QUEUE: usize = 32;
/// Completed transfers remembered for duplicate suppression.
pub const DEDUP_CACHE: usize = 64;
/// Static routes the shell or simulator may install.
pub const STATIC_ROUTES: usize = 64;
/// Application timers.
pub const APP_TIMERS: usize = 8;
const ARENA_REGIONS: usize = 40;

/// Why `send`, `broadcast` or `register_app` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendError {
    /// The application is not registered.
    UnknownApp,
    /// Larger than `max_transfer`.
    TooLarge,
    /// No transfer slot or outbound memory free right now.
    Busy,
    /// The destination is this node or banned.
    BadDestination,
    /// The application table is full, the name is reserved, or its id collides.
    AppTable,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnknownApp => "application not registered",
            Self::TooLarge => "payload larger than max_transfer",
            Self::Busy => "no free transfer slot or outbound memory",
            Self::BadDestination => "bad destination",
            Self::AppTable => "application table full or id collision",
        })
    }
}

impl core::error::Error for SendError {}

/// A frame the shell must put on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Which link.
    pub link: LinkId,
    /// To whom ([`LinkAddr::BROADCAST`] for everyone in range).
    pub to: LinkAddr,
    /// Bytes written at the front of the caller's buffer.
    pub len: usize,
}

/// Something the shell does to a link that the node should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// The link's device came up or went down.
    Up(bool),
    /// The driver's own airtime budget (e.g. a LoRa module's duty cycle) was exhausted: the
    /// node sends nothing on the link for a second.
    BudgetExhausted,
    /// The outcome of the last unicast [`Transmit`] on the link, where the link reports one
    /// (ESP-NOW's send callback: the MAC-layer acknowledgement). With
    /// [`Config::link_retries`] > 0 a failed frame is sent again at once, ahead of other
    /// traffic, up to that many times; end-to-end reliability stays in force either way.
    TxDone {
        /// The link acknowledged the frame.
        ok: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Queued<const M: usize> {
    link: LinkId,
    to: LinkAddr,
    len: usize,
    control: bool,
    /// Link-level retries already spent on this frame.
    retries: u8,
    bytes: [u8; M],
}

#[derive(Debug, Clone, Copy)]
struct DeliveryRec {
    id: DeliveryId,
    region: Region,
    offset: usize,
    len: usize,
    created: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Completed {
    from: NodeId,
    id: u16,
    count: u32,
    at: Instant,
}

/// A hyphae node.
///
/// Capacities are const generics so the caller owns all memory and a firmware build knows its
/// RAM at link time: `P` peers, `T` inbound and `T` outbound transfers, `IN` bytes of reassembly
/// budget, `OUT` bytes of outbound buffer, `M` the largest frame of any link.
pub struct Node<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize> {
    id: NodeId,
    config: Config,
    rng: Rng,
    links: heapless::Vec<Link, MAX_LINKS>,
    link_up: [bool; MAX_LINKS],
    /// No frame goes on a link before this (a driver reported its own budget exhausted).
    link_blocked: [Instant; MAX_LINKS],
    /// The last unicast frame sent, until the link reports its outcome (`LinkEvent::TxDone`).
    pending_tx: Option<Queued<M>>,
    /// Link retries already spent on the frame being transmitted.
    tx_retries: u8,
    peers: PeerTable<P>,
    apps: heapless::Vec<AppId, MAX_APPS>,
    app_timers: heapless::Vec<(AppId, Instant, u32), APP_TIMERS>,
    routes: heapless::Vec<(NodeId, NodeId), STATIC_ROUTES>,
    outbound: heapless::Vec<OutTransfer, T>,
    inbound: heapless::Vec<InTransfer, T>,
    out_arena: Arena<OUT, ARENA_REGIONS>,
    in_arena: Arena<IN, ARENA_REGIONS>,
    deliveries: heapless::Vec<DeliveryRec, T>,
    completed: heapless::Deque<Completed, DEDUP_CACHE>,
    control: heapless::Deque<Queued<M>, CONTROL_QUEUE>,
    events: heapless::Deque<Event, EVENT_QUEUE>,
    counters: Counters,
    next_send: u32,
    next_transfer: u16,
    next_delivery: u32,
    next_beacon: Instant,
    beacon_seq: u16,
    rr_cursor: usize,
    blocked_until: Option<Instant>,
    awake_until: Instant,
    sleep_announced: Option<Instant>,
    /// The latest `now` seen by `handle_timeout`.
    last_now: Instant,
    /// Remaining hop limit of the frame being received (`None`: no routing header).
    rx_hop_limit_left: Option<u8>,
    /// Frame security (`crate::security`); `None` until the shell installs it.
    security: Option<crate::security::Security>,
    /// Link MTUs were reduced by the security overhead.
    secure_mtu: bool,
    /// Reception metadata of the frame being received.
    rx_meta: RxMeta,
    started: bool,
    /// State of the configured routing mode (`routing.rs`).
    rt: RoutingState<P, M>,
    rstats: RoutingStats,
    /// Round trip per hop, for the first timeout of new transfers.
    path_rtt: PathRtt,
}

/// Capacities for an ESP32-class microcontroller: 32 peers, 8 + 8 transfers, 66 KiB of
/// reassembly budget and 66 KiB of outbound buffer (a 64 KiB blob plus its Package header and
/// the rounding of its last fragment), 250-byte frames.
pub type McuNode = Node<32, 8, 67_584, 67_584, 250>;
/// Capacities for a Linux host: 64 peers, 16 + 16 transfers, 512 KiB each way (blobs up to
/// `Config::max_transfer`, raise it to use them), 1470-byte frames. About 1.1 MB: put it in a
/// `Box` built where the stack is large enough (a debug build copies it through the stack).
pub type HostNode = Node<64, 16, 524_288, 524_288, 1470>;
/// Small capacities for simulating thousands of nodes.
pub type SimNode = Node<16, 4, 16_384, 8_192, 250>;

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// A node with identity `id`, configuration and a seed for its jitter PRNG.
    ///
    /// `const`, so a firmware can build a large node straight into a `static` (e.g. with
    /// `static_cell`) instead of through its stack.
    pub const fn new(config: Config, id: NodeId, rng_seed: u64) -> Self {
        let mut rng = Rng::new(rng_seed ^ u64::from_le_bytes(id.0));
        let next_transfer = rng.next_u64() as u16;
        Self {
            id,
            config,
            rng,
            links: heapless::Vec::new(),
            link_up: [true; MAX_LINKS],
            link_blocked: [Instant::ZERO; MAX_LINKS],
            pending_tx: None,
            tx_retries: 0,
            peers: PeerTable::new(),
            apps: heapless::Vec::new(),
            app_timers: heapless::Vec::new(),
            routes: heapless::Vec::new(),
            outbound: heapless::Vec::new(),
            inbound: heapless::Vec::new(),
            out_arena: Arena::new(),
            in_arena: Arena::new(),
            deliveries: heapless::Vec::new(),
            completed: heapless::Deque::new(),
            control: heapless::Deque::new(),
            events: heapless::Deque::new(),
            counters: Counters::new(),
            next_send: 1,
            next_transfer,
            next_delivery: 1,
            next_beacon: Instant::ZERO,
            beacon_seq: 0,
            rr_cursor: 0,
            blocked_until: None,
            awake_until: Instant::ZERO,
            sleep_announced: None,
            last_now: Instant::ZERO,
            rx_hop_limit_left: None,
            security: None,
            secure_mtu: false,
            rx_meta: RxMeta {
                rssi: None,
                snr: None,
            },
            started: false,
            rt: RoutingState::Off,
            rstats: RoutingStats {
                tree_messages: 0,
                gossip_sent: 0,
                greedy_forwards: 0,
                backtracks: 0,
                unreachable: 0,
                hop_limit_drops: 0,
                flood_rebroadcasts: 0,
                flood_cancelled: 0,
                flood_duplicates: 0,
                flood_overflow: 0,
                reparents: 0,
                renumbers: 0,
                root_losses: 0,
                claims: 0,
                joins: [0; 4],
            },
            path_rtt: PathRtt { srtt_us: 0 },
        }
    }

    /// Add a link; `None` if [`MAX_LINKS`] are in use or its MTU exceeds the node's `M`.
    pub fn add_link(&mut self, info: LinkInfo) -> Option<LinkId> {
        if info.mtu > M {
            return None;
        }
        let id = LinkId(u8::try_from(self.links.len()).ok()?);
        let mut info = info;
        if self.secure_mtu {
            info.mtu = info.mtu.saturating_sub(hyphae_crypto::frame::OVERHEAD);
        }
        self.links.push(Link::new(info)).ok()?;
        Some(id)
    }

    /// Register an application under the id derived from its name.
    pub fn register_app(&mut self, name: &str) -> Result<AppId, SendError> {
        let id = AppId::from_name(name).ok_or(SendError::AppTable)?;
        if self.apps.contains(&id) {
            return Err(SendError::AppTable);
        }
        self.apps.push(id).map_err(|_| SendError::AppTable)?;
        Ok(id)
    }

    /// Fire [`Event::Timer`] for `app` at `at`. Replaces an earlier timer with the same token.
    pub fn set_timer(&mut self, app: AppId, at: Instant, token: u32) -> Result<(), SendError> {
        if !self.apps.contains(&app) {
            return Err(SendError::UnknownApp);
        }
        self.app_timers
            .retain(|(a, _, t)| !(*a == app && *t == token));
        self.app_timers
            .push((app, at, token))
            .map_err(|_| SendError::Busy)
    }

    /// Send `data` reliably to `dest` for `app`. The outcome arrives as
    /// [`Event::SendDone`] or [`Event::SendFailed`].
    pub fn send(
        &mut self,
        now: Instant,
        app: AppId,
        dest: NodeId,
        data: &[u8],
    ) -> Result<SendId, SendError> {
        if dest == self.id || self.peers.is_banned(&dest) {
            return Err(SendError::BadDestination);
        }
        self.enqueue(now, app, Some(dest), data)
    }

    /// Send `data` to every neighbour, without acknowledgements (as many frames as needed).
    pub fn broadcast(
        &mut self,
        now: Instant,
        app: AppId,
        data: &[u8],
    ) -> Result<SendId, SendError> {
        self.enqueue(now, app, None, data)
    }

    fn enqueue(
        &mut self,
        now: Instant,
        app: AppId,
        dest: Option<NodeId>,
        data: &[u8],
    ) -> Result<SendId, SendError> {
        if !self.apps.contains(&app) {
            return Err(SendError::UnknownApp);
        }
        if data.len() > self.config.max_transfer {
            return Err(SendError::TooLarge);
        }
        if self.outbound.is_full() {
            return Err(SendError::Busy);
        }
        let header = PackageRepr::for_payload(app, data).map_err(|_| SendError::TooLarge)?;
        // Unicast payloads are sealed end to end once the destination's session is up
        // (`e2e.rs`): room for the envelope now, the Package header then.
        let e2e = dest.is_some() && self.e2e_on();
        let extra = if e2e { ENVELOPE_OVERHEAD } else { 0 };
        let len = hyphae_wire::package::HEADER_LEN + extra + data.len();
        let region = self.out_arena.alloc(len).ok_or(SendError::Busy)?;
        let buf = self.out_arena.get_mut(region);
        if e2e {
            let at = hyphae_wire::package::HEADER_LEN + hyphae_crypto::e2e::ENVELOPE_HEADER_LEN;
            buf[at..at + data.len()].copy_from_slice(data);
        } else {
            // The region is exactly HEADER_LEN + data.len() bytes.
            let _ = header.emit(buf);
            buf[hyphae_wire::package::HEADER_LEN..].copy_from_slice(data);
        }
        let send = SendId(self.next_send);
        self.next_send = self.next_send.wrapping_add(1);
        let id = if dest.is_some() {
            self.next_transfer & 0x7fff
        } else {
            self.next_transfer | 0x8000
        };
        self.next_transfer = self.next_transfer.wrapping_add(1);
        let t = OutTransfer::new(
            send,
            app,
            dest,
            id,
            region,
            now,
            self.config.rto_initial,
            self.config.effective_window(),
        );
        let mut t = t;
        t.seal_e2e = e2e;
        t.e2e = e2e;
        // Cannot fail: checked `is_full` above.
        let _ = self.outbound.push(t);
        self.activate(now);
        Ok(send)
    }

    /// Copy a delivered payload into `buf` and release it. Returns its length, or `None` if the
    /// delivery is unknown (already taken or reclaimed) or `buf` is too short (then it stays).
    pub fn take_delivery(&mut self, id: DeliveryId, buf: &mut [u8]) -> Option<usize> {
        let i = self.deliveries.iter().position(|d| d.id == id)?;
        let d = self.deliveries[i];
        let out = buf.get_mut(..d.len)?;
        out.copy_from_slice(&self.in_arena.get(d.region)[d.offset..d.offset + d.len]);
        self.in_arena.free(d.region);
        self.deliveries.swap_remove(i);
        Some(d.len)
    }

    /// Release a delivered payload without reading it.
    pub fn discard_delivery(&mut self, id: DeliveryId) {
        if let Some(i) = self.deliveries.iter().position(|d| d.id == id) {
            self.in_arena.free(self.deliveries.swap_remove(i).region);
        }
    }

    /// Tell the node about a link event (see [`LinkEvent`]). Unknown links are ignored.
    pub fn handle_link_event(&mut self, now: Instant, link: LinkId, event: LinkEvent) {
        let n = usize::from(link.0);
        if n >= self.links.len() {
            return;
        }
        match event {
            LinkEvent::Up(u) => self.link_up[n] = u,
            LinkEvent::BudgetExhausted => {
                self.link_blocked[n] = self.link_blocked[n].max(now + Duration::from_secs(1));
            }
            LinkEvent::TxDone { ok } => {
                let Some(mut q) = self.pending_tx.take_if(|p| p.link == link) else {
                    return;
                };
                if ok {
                    // The neighbour acknowledged at the link layer: it is alive, whatever
                    // became of its beacons (broadcasts are never acknowledged and collide
                    // first in a busy mesh). Like a jammer, a forger of link-layer acks can
                    // only keep a dead neighbour looking alive until its routing timeouts.
                    if let Some(p) = self.peers.by_addr_mut(link, &q.to) {
                        p.last_seen = p.last_seen.max(now);
                        let id = p.id;
                        self.tree_heard(now, &id);
                    }
                    return;
                }
                if q.retries < self.config.link_retries {
                    q.retries += 1;
                    if self.control.is_full() {
                        self.counters.drop(crate::event::DropReason::QueueFull);
                    } else {
                        let _ = self.control.push_front(q);
                        self.counters.link_retries += 1;
                    }
                } else {
                    self.counters.link_failures += 1;
                }
            }
        }
    }

    /// Run every timer due at `now`: beacons, peer expiry, application timers, delayed acks,
    /// retransmission timeouts, wake-up probes, give-ups, reclaiming untaken deliveries and the
    /// sleep announcement. Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if !self.started {
            self.started = true;
            let jitter = self
                .rng
                .below(self.config.beacon_interval.as_micros() as u64 / 4 + 1);
            self.next_beacon = now + Duration::from_micros(jitter);
            self.routing_start(now);
        }
        self.routing_tick(now);
        if now >= self.next_beacon {
            self.queue_beacons(now);
            let base = self.config.beacon_interval.as_micros() as u64;
            let jitter = self.rng.below(base / 5 + 1);
            self.next_beacon = now + Duration::from_micros(base - base / 10 + jitter);
        }
        // Peers gone silent.
        let (events, counters) = (&mut self.events, &mut self.counters);
        let silence = silence_table(&self.config, &self.links);
        self.peers.expire(
            now,
            |p| peer_silence(&silence, p),
            |id| {
                push_event(events, counters, Event::PeerDown(id));
            },
        );
        // Link handshakes past their deadline, sessions of departed peers, key exchanges.
        self.link_timers(now);
        self.e2e_timers(now);
        // Application timers.
        let mut i = 0;
        while i < self.app_timers.len() {
            if self.app_timers[i].1 <= now {
                let (app, _, token) = self.app_timers.swap_remove(i);
                self.push(Event::Timer { app, token });
            } else {
                i += 1;
            }
        }
        self.expire_inbound(now);
        self.outbound_timers(now);
        self.activate(now);
        // Reclaim deliveries the shell never took.
        let hold = self.config.delivery_hold;
        let mut i = 0;
        while i < self.deliveries.len() {
            if now.saturating_since(self.deliveries[i].created) > hold {
                let d = self.deliveries.swap_remove(i);
                self.in_arena.free(d.region);
                self.counters.drop(crate::event::DropReason::QueueFull);
            } else {
                i += 1;
            }
        }
        while self
            .completed
            .front()
            .is_some_and(|c| now.saturating_since(c.at) > self.config.dedup_window)
        {
            self.completed.pop_front();
        }
        self.check_sleep(now);
    }

    /// The next instant at which [`Node::handle_timeout`] has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return Some(Instant::ZERO);
        }
        let mut t = Some(self.next_beacon);
        let silence = silence_table(&self.config, &self.links);
        t = earliest(t, self.peers.next_expiry(|p| peer_silence(&silence, p)));
        for (_, at, _) in &self.app_timers {
            t = earliest(t, Some(*at));
        }
        for tr in &self.outbound {
            t = earliest(t, self.out_deadline(tr));
        }
        for tr in &self.inbound {
            t = earliest(t, tr.ack_due);
            t = earliest(t, Some(tr.last_activity + self.inbound_lifetime(tr)));
        }
        for d in &self.deliveries {
            t = earliest(t, Some(d.created + self.config.delivery_hold));
        }
        if let Some(c) = self.completed.front() {
            t = earliest(t, Some(c.at + self.config.dedup_window));
        }
        if self.config.sleepy && self.sleep_announced.is_none() && self.awake_until > self.last_now
        {
            // The end of the listen / awake window, when sleep may be announced.
            t = earliest(t, Some(self.awake_until));
        }
        t = earliest(t, self.routing_timeout());
        t = earliest(t, self.link_timeout());
        t = earliest(t, self.e2e_timeout());
        earliest(t, self.blocked_until)
    }

    /// The next event for the shell or its applications.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The peer table.
    pub fn peers(&self) -> &PeerTable<P> {
        &self.peers
    }

    /// Ban a node (removed from the peer table; its frames are dropped).
    pub fn ban(&mut self, id: NodeId) -> bool {
        self.peers.ban(id)
    }

    /// Counters for metrics.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Progress of an outbound transfer still in progress.
    pub fn send_progress(&self, id: SendId) -> Option<crate::event::SendProgress> {
        let t = self.outbound.iter().find(|t| t.send == id)?;
        Some(crate::event::SendProgress {
            fragments: t.count,
            acked: t.base,
            cwnd: t.cwnd,
            srtt: Duration::from_micros(t.srtt_us),
            rto: t.current_rto(self.config.rto_max),
        })
    }

    /// Transfers in progress (outbound, inbound).
    pub fn transfers(&self) -> (usize, usize) {
        (self.outbound.len(), self.inbound.len())
    }

    /// Bytes of the inbound budget in use.
    pub fn inbound_bytes(&self) -> usize {
        self.in_arena.used()
    }

    /// Airtime spent on `link` so far, and the credit left in its duty-cycle budget.
    pub fn airtime(&self, link: LinkId) -> Option<(Duration, Duration)> {
        let l = self.links.get(usize::from(link.0))?;
        Some((Duration::from_micros(l.airtime_used_us), l.credit()))
    }

    /// Frames waiting in the control queue.
    pub fn queue_depth(&self) -> usize {
        self.control.len()
    }

    fn push(&mut self, e: Event) {
        push_event(&mut self.events, &mut self.counters, e);
    }

    fn fail(&mut self, index: usize, reason: FailReason, at: Option<NodeId>) {
        let t = self.outbound.swap_remove(index);
        self.out_arena.free(t.region);
        self.counters.sends_failed += 1;
        self.push(Event::SendFailed {
            id: t.send,
            app: t.app,
            reason,
            at,
        });
    }

    fn succeed(&mut self, index: usize) {
        let t = self.outbound.swap_remove(index);
        self.out_arena.free(t.region);
        self.counters.sends_done += 1;
        self.push(Event::SendDone {
            id: t.send,
            app: t.app,
        });
    }

    fn out_deadline(&self, t: &OutTransfer) -> Option<Instant> {
        match t.state {
            OutState::WaitRoute => Some(t.created + self.config.route_wait),
            OutState::Waking { next_probe, .. } => Some(next_probe),
            OutState::Active => {
                let give_up = t.last_progress + self.config.transfer_timeout;
                let rto = t.rto_deadline(self.config.rto_max, self.config.ack_delay);
                earliest(Some(give_up), rto)
            }
        }
    }

    fn inbound_lifetime(&self, t: &InTransfer) -> Duration {
        if t.broadcast {
            self.config.transfer_timeout
        } else {
            self.config.resume_window
        }
    }

    /// Timers of outbound transfers: route wait, wake probes, RTO, give-up.
    fn outbound_timers(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.outbound.len() {
            let t = &mut self.outbound[i];
            match t.state {
                OutState::WaitRoute => {
                    if now.saturating_since(t.created) >= self.config.route_wait {
                        self.fail(i, FailReason::Unreachable, None);
                        continue;
                    }
                }
                OutState::Waking {
                    attempts,
                    next_probe,
                } => {
                    if now >= next_probe {
                        if attempts >= self.config.wake_attempts {
                            self.fail(i, FailReason::Unreachable, None);
                            continue;
                        }
                        t.state = OutState::Waking {
                            attempts: attempts + 1,
                            next_probe: now + self.config.wake_probe_interval,
                        };
                        if let Some(dest) = t.dest {
                            self.queue_status(dest, false, 0);
                        }
                    }
                }
                OutState::Active => {
                    if now.saturating_since(t.last_progress) >= self.config.transfer_timeout {
                        self.fail(i, FailReason::TimedOut, None);
                        continue;
                    }
                    if t.rto_deadline(self.config.rto_max, self.config.ack_delay)
                        .is_some_and(|d| now >= d)
                    {
                        t.on_rto(now);
                        self.counters.timeouts += 1;
                    }
                }
            }
            i += 1;
        }
    }

    /// Move waiting transfers forward: find routes, decide single vs fragments, wake sleepers.
    fn activate(&mut self, now: Instant) {
        for i in 0..self.outbound.len() {
            if self.outbound[i].state != OutState::WaitRoute {
                continue;
            }
            if self.outbound[i].seal_e2e && !self.e2e_seal(now, i) {
                continue;
            }
            let dest = self.outbound[i].dest;
            let mut hops = 1;
            let (mtu, routed_len) = match dest {
                None => match self
                    .links
                    .iter()
                    .filter(|l| l.info.broadcast)
                    .map(|l| l.info.mtu)
                    .min()
                {
                    Some(mtu) => (mtu, 0),
                    None => continue,
                },
                Some(d) => match self.route_to(&d) {
                    Some(r) => {
                        hops = self.route_hops(&r);
                        (self.links[usize::from(r.link.0)].info.mtu, r.header_len)
                    }
                    None => continue,
                },
            };
            let first_rto = self.path_rtt.initial(
                hops,
                self.config.rto_per_hop,
                self.config.rto_initial,
                self.config.rto_max,
            );
            let t = &mut self.outbound[i];
            if t.srtt_us == 0 {
                t.hops = hops;
                t.rto = first_rto;
            }
            let content = t.region.len as usize;
            let payload = content - hyphae_wire::package::HEADER_LEN;
            let single_cap = mtu.saturating_sub(
                hyphae_wire::sizes::frame_overhead(false)
                    + routed_len
                    + hyphae_wire::single::HEADER_LEN,
            );
            if payload <= single_cap {
                t.single = true;
                t.count = 1;
            } else {
                let mut cap = hyphae_wire::sizes::fragment_capacity(mtu, routed_len, false, 1);
                let mut count = content.div_ceil(cap.max(1));
                if count > 256 {
                    cap = hyphae_wire::sizes::fragment_capacity(mtu, routed_len, false, 300);
                    count = content.div_ceil(cap.max(1));
                }
                if cap == 0 || count > transfer::MAX_FRAGMENTS as usize {
                    let _ = t;
                    self.fail(i, FailReason::TooLarge, None);
                    return self.activate(now);
                }
                t.frag_len = cap as u16;
                t.count = count as u32;
            }
            t.last_progress = now;
            let sleepy = dest.and_then(|d| self.peers.get(&d)).is_some_and(|p| {
                p.caps & hyphae_wire::beacon::Capabilities::SLEEPY != 0
                    && now.saturating_since(p.last_seen) > self.config.peer_awake_assumption
                    && now >= p.awake_until
            });
            t.state = if sleepy {
                OutState::Waking {
                    attempts: 0,
                    next_probe: now,
                }
            } else {
                OutState::Active
            };
        }
    }

    /// Whether this node is congested and asks senders to slow down (the throttle flag on its
    /// acknowledgements and on frames it forwards): its forwarding/control queue is half full,
    /// the shell leaves half the delivery slots untaken, or the reassembly budget is above
    /// `throttle_percent` while several transfers share it (one transfer filling the budget it
    /// was admitted into is not congestion).
    pub(crate) fn congested(&self) -> bool {
        let budget = self.in_arena.used() * 100 > IN * usize::from(self.config.throttle_percent);
        self.control.len() * 2 >= CONTROL_QUEUE
            || (T > 1 && self.deliveries.len() * 2 >= T)
            || (budget && self.inbound.len() > 1)
    }

    /// Modem sleep: announce [`Event::MaySleepUntil`] when idle; after waking at that instant,
    /// listen for `listen_window` (so a peer's request-node-status can reach us) before
    /// announcing the next sleep.
    fn check_sleep(&mut self, now: Instant) {
        if !self.config.sleepy {
            return;
        }
        if self.sleep_announced.is_some_and(|t| now >= t) {
            self.sleep_announced = None;
            self.awake_until = self.awake_until.max(now + self.config.listen_window);
        }
        let busy = !self.outbound.is_empty()
            || !self.inbound.is_empty()
            || !self.control.is_empty()
            || !self.deliveries.is_empty()
            || now < self.awake_until;
        if busy {
            self.sleep_announced = None;
            return;
        }
        let mut until = self.next_beacon;
        for (_, at, _) in &self.app_timers {
            until = until.min(*at);
        }
        if self.sleep_announced != Some(until) {
            self.sleep_announced = Some(until);
            self.push(Event::MaySleepUntil(until));
        }
    }
}

/// How long `p` may stay silent before it is down: `peer_timeout_beacons` beacon intervals, or
/// that many beacon gaps of its link when the link's duty cycle spaces beacons further apart.
/// How long a peer may stay silent, per link (index `MAX_LINKS`: a peer with no route), so
/// the per-peer scans in `poll_timeout` and `handle_timeout` do no airtime arithmetic.
fn silence_table(config: &Config, links: &[Link]) -> [Duration; MAX_LINKS + 1] {
    let base = config.beacon_interval * config.peer_timeout_beacons;
    let mut t = [base; MAX_LINKS + 1];
    for (slot, l) in t.iter_mut().zip(links) {
        *slot = base.max(l.beacon_gap(BEACON_LEN_ESTIMATE) * config.peer_timeout_beacons);
    }
    t
}

fn peer_silence(table: &[Duration; MAX_LINKS + 1], p: &crate::peers::Peer) -> Duration {
    let i = p
        .route()
        .map_or(MAX_LINKS, |(l, _)| usize::from(l.0).min(MAX_LINKS));
    table[i]
}

/// A typical beacon's length, for beacon spacing on duty-cycled links.
const BEACON_LEN_ESTIMATE: usize = 40;

/// Transfer ids with bit 15 set belong to broadcast transfers, which are never acknowledged.
pub(crate) fn is_broadcast_transfer(id: u16) -> bool {
    id & 0x8000 != 0
}

fn push_event(events: &mut heapless::Deque<Event, EVENT_QUEUE>, counters: &mut Counters, e: Event) {
    if events.push_back(e).is_err() {
        // Never silently: the oldest event is dropped and counted.
        events.pop_front();
        counters.events_dropped += 1;
        let _ = events.push_back(e);
    }
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// Deliver a payload held in `region` at `offset..offset + len`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn deliver(
        &mut self,
        now: Instant,
        app: AppId,
        from: NodeId,
        region: Region,
        offset: usize,
        len: usize,
        broadcast: bool,
    ) {
        if usize::from(tree::GOSSIP_FETCH_MAX) >= len
            && Some(app) == AppId::from_name(tree::GOSSIP_APP)
        {
            // A fetched gossip payload: the core's own application.
            let mut tmp = [0u8; tree::GOSSIP_FETCH_MAX as usize];
            let bytes = self.in_arena.get(region).get(offset..offset + len);
            let n = bytes.map_or(0, |b| {
                tmp[..b.len()].copy_from_slice(b);
                b.len()
            });
            self.in_arena.free(region);
            self.on_fetched_gossip(now, app, &tmp[..n]);
            return;
        }
        let id = DeliveryId(self.next_delivery);
        self.next_delivery = self.next_delivery.wrapping_add(1);
        if self
            .deliveries
            .push(DeliveryRec {
                id,
                region,
                offset,
                len,
                created: now,
            })
            .is_err()
        {
            self.in_arena.free(region);
            self.counters.drop(crate::event::DropReason::QueueFull);
            return;
        }
        self.counters.delivered += 1;
        self.push(Event::Delivered(Delivery {
            id,
            app,
            from,
            len,
            broadcast,
            hop_limit_left: self.rx_hop_limit_left,
        }));
    }

    pub(crate) fn remember_completed(&mut self, from: NodeId, id: u16, count: u32, now: Instant) {
        if self.completed.is_full()
            && let Some(old) = self.completed.pop_front()
            && now.saturating_since(old.at) < self.config.dedup_window
        {
            // Forgotten before its window ended: a very late duplicate of it could be
            // delivered again. Counted so an operator sees the cache is too small.
            self.counters.dedup_evictions += 1;
        }
        let _ = self.completed.push_back(Completed {
            from,
            id,
            count,
            at: now,
        });
    }

    pub(crate) fn completed_count(&self, from: &NodeId, id: u16) -> Option<u32> {
        self.completed
            .iter()
            .find(|c| c.from == *from && c.id == id)
            .map(|c| c.count)
    }

    /// A datagram arrived on `link` from link address `from`, with the link's reception
    /// metadata. Any bytes are accepted: what does not parse, comes from an unknown or banned
    /// sender, or does not fit the receiver's state is dropped and counted in
    /// [`Counters::drops`]; nothing here panics or allocates. Call [`Node::poll_transmit`] and
    /// [`Node::poll_event`] afterwards.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        link: LinkId,
        from: LinkAddr,
        meta: RxMeta,
        bytes: &[u8],
    ) {
        self.counters.frames_in += 1;
        self.counters.bytes_in += bytes.len() as u64;
        if bytes.len() > M {
            self.counters.drop(crate::event::DropReason::Malformed);
            return;
        }
        let mut plain = [0u8; M];
        let Some(n) = self.open_in(now, link, &from, bytes, &mut plain) else {
            return;
        };
        self.receive(now, link, from, meta, &plain[..n]);
    }
}
