//! Tree routing in the node (`docs/spec/routing.md`): the node owns a `hyphae_routing::Router`
//! (k spanning trees), a `Forwarder` (greedy forwarding with bounded backtracking), a name
//! cache (node id → coordinates), gossip (position and service announcements, application
//! topics) and a service registry.
//!
//! - Beacons carry the router's tree entries; Tree bodies go to the router; peers that leave
//!   the peer table are reported lost to it.
//! - A frame to a non-neighbour is addressed to the destination's coordinates (name cache),
//!   its source is the origin's node id; transit nodes forward greedily across trees, return
//!   the frame to its predecessor at a local minimum (error flag), and send an unreachable or
//!   hop-limit notice to the origin when nothing is left.
//! - Every node remembers, per origin, the neighbour a routed frame from it last came through
//!   (reverse path): acknowledgements and notices to an origin whose coordinates a node does
//!   not know travel back that way with node-id addresses.

use core::time::Duration;

use hyphae_link::RxMeta;
use hyphae_routing::gossip::Gossip;
use hyphae_routing::names::{NameCache, decode_position, encode_position};
use hyphae_routing::router::{AdmittedPolicy, Config as RouterConfig, Dest, Router, Stats};
use hyphae_routing::service::Services;
use hyphae_routing::{Decision, Forwarder, Metric, NeighbourId};
use hyphae_wire::frame::{Body, Frame, FrameRepr};
use hyphae_wire::header::Kind;
use hyphae_wire::notice::Code;
use hyphae_wire::trace::Hop;
use hyphae_wire::{
    Address, AppId, BeaconRepr, Coords, Flags, NodeId, RoutingRepr, ServicePacket, ServiceRepr,
    TraceRepr,
};

use super::SendError;
use super::route::{Route, Via};
use super::routing::{Inbound, RoutingState};
use crate::config::Config;
use crate::event::{DropReason, FailReason};
use crate::time::Instant;

/// Most trees a node takes part in ([`crate::config::Routing::Tree`]'s `trees` is clamped to it).
pub const MAX_TREES: usize = 3;
/// Entries of the name cache (node id → coordinates).
pub const NAME_CACHE: usize = 16;
/// Gossip topic of position announcements (`routing.md` §7).
pub const POSITION_TOPIC: u16 = 0xFFF0;
/// Gossip topic of service announcements (`routing.md` §9).
pub const SERVICE_TOPIC: u16 = 0xFFF1;
/// Gossip topic of position requests (`routing.md` §13.2): payload = the wanted node id.
pub const POSITION_REQUEST_TOPIC: u16 = 0xFFF2;
/// Destinations whose position requests are rate-limited at once.
const REQUESTS: usize = 4;
/// Least time between two position requests for one destination.
const REQUEST_GAP: Duration = Duration::from_secs(2);
/// Frames remembered for backtracking.
const VISITS: usize = 8;
/// Origins whose reverse path is remembered.
const REVERSE: usize = 16;
/// How long a reverse-path entry lasts without traffic.
const REVERSE_HOLD: Duration = Duration::from_secs(60);
/// Neighbours an origin avoids per destination after they returned a frame.
const AVOID: usize = 4;
/// How long an origin avoids a neighbour that returned a frame (spec: 10 s of memory).
const AVOID_HOLD: Duration = Duration::from_secs(10);
/// Gossip messages remembered (duplicate cache).
const GOSSIP_SEEN: usize = 32;
/// Gossip payloads stored for fetches and anti-entropy (1 KiB each).
const GOSSIP_STORE: usize = 1;
/// Service records kept.
const SERVICES: usize = 8;
/// Services this node announces.
const OWN_SERVICES: usize = 2;
/// Validity of own service announcements, in units of 10 s (600 s).
const SERVICE_TTL: u8 = 60;
/// Epoch window: a header epoch further away belongs to another tree instance (§6.5).
const EPOCH_WINDOW: u16 = 64;
/// Position announcements are repeated this often while nothing changes.
const ANNOUNCE_REFRESH: Duration = Duration::from_secs(120);

/// Leased addresses a node grants at once (`leases.rs`).
const LEASES: usize = 4;

type TreeRouter<const P: usize> = Router<AdmittedPolicy<{ claims::ROOTS }>, MAX_TREES, P, LEASES>;

fn ri(t: Instant) -> hyphae_routing::Instant {
    hyphae_routing::Instant(t.as_micros())
}

/// The tree-routing state of one node.
pub(crate) struct TreeState<const P: usize> {
    router: TreeRouter<P>,
    claims: claims::Claims,
    signed: signed::SignedState,
    /// `Some` on a leaf: it takes a leased address instead of joining the trees.
    lease: Option<leases::LeaseState>,
    /// Announcements waiting for their payload before they are relayed.
    pending_gossip: [Option<hyphae_wire::GossipRepr<'static>>; 2],
    fwd: Forwarder<VISITS>,
    names: NameCache<MAX_TREES, NAME_CACHE>,
    gossip: Gossip<GOSSIP_SEEN, GOSSIP_STORE>,
    services: Services<SERVICES>,
    own_services: heapless::Vec<(AppId, heapless::String<32>), OWN_SERVICES>,
    service_seq: u16,
    next_service_announce: Option<Instant>,
    /// `NeighbourId(i)` is the peer `nbs[i]`.
    nbs: [Option<NodeId>; P],
    /// Origin, neighbour its frames last came through, until.
    reverse: [Option<(NodeId, NodeId, Instant)>; REVERSE],
    /// Destination, neighbour that returned a frame for it, until.
    avoid: [Option<(NodeId, NodeId, Instant)>; AVOID],
    metric: Metric,
    announce_hops: u8,
    announced: [Option<Coords>; MAX_TREES],
    changed_at: Option<Instant>,
    next_announce: Instant,
    interval: Duration,
    last_early_beacon: Instant,
    /// Position requests sent: destination, when.
    requested: [Option<(NodeId, Instant)>; REQUESTS],
    next_probe: u16,
    /// The trace in progress (probe id, sent at) and the last completed one.
    probe: Option<(u16, Instant)>,
    last_trace: Option<TraceRepr>,
}

impl<const P: usize> TreeState<P> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: NodeId,
        config: &Config,
        interval: Duration,
        trees: u8,
        metric: Metric,
        announce_hops: u8,
        mtu: usize,
        seed: u64,
        now: Instant,
    ) -> Self {
        let mut rc = RouterConfig::new(id, hyphae_routing::Duration(interval.as_micros() as u64));
        rc.trees = trees.clamp(1, MAX_TREES as u8);
        rc.seed = seed;
        let leaf = config.capabilities & hyphae_wire::beacon::Capabilities::LEAF != 0;
        rc.root_candidate = !leaf && !config.sleepy;
        rc.joins = !leaf;
        // Gossip frames are one-hop frames: common header + gossip header + payload.
        let inline = mtu.saturating_sub(
            hyphae_wire::sizes::frame_overhead(false) + hyphae_wire::gossip::HEADER_LEN,
        );
        let mut gossip = Gossip::new(id.short(), inline);
        gossip.hop_limit = announce_hops.clamp(1, hyphae_wire::gossip::MAX_HOPS);
        // The one-payload store is for announced payloads (fetch and anti-entropy) only.
        gossip.keep_inline = false;
        let _ = gossip.subscribe(POSITION_TOPIC);
        let _ = gossip.subscribe(SERVICE_TOPIC);
        let _ = gossip.subscribe(POSITION_REQUEST_TOPIC);
        Self {
            // Open until security is installed (`claims.rs`).
            router: Router::new(rc, AdmittedPolicy::new(0, true), ri(now)),
            claims: claims::Claims::default(),
            signed: signed::SignedState::default(),
            lease: leaf.then(leases::LeaseState::default),
            pending_gossip: [None; 2],
            fwd: Forwarder::new(),
            names: NameCache::default(),
            gossip,
            services: Services::new(),
            own_services: heapless::Vec::new(),
            service_seq: 0,
            next_service_announce: None,
            nbs: [None; P],
            reverse: [None; REVERSE],
            avoid: [None; AVOID],
            metric,
            announce_hops,
            announced: [None; MAX_TREES],
            changed_at: None,
            next_announce: now,
            interval,
            last_early_beacon: Instant::ZERO,
            requested: [None; REQUESTS],
            next_probe: seed as u16,
            probe: None,
            last_trace: None,
        }
    }

    pub(crate) fn router_stats(&self) -> Stats {
        self.router.stats()
    }

    /// The router's tick (twice per interval): every timer of tree mode runs on it.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::from_micros(self.router.poll_timeout().map_or(u64::MAX, |t| t.0))
    }

    pub(crate) fn beacon_entries(&self, beacon: &mut BeaconRepr) {
        for e in self.router.beacon_entries() {
            let _ = beacon.push_tree(e);
        }
    }

    /// Own coordinates per tree.
    fn position(&self) -> [Option<Coords>; MAX_TREES] {
        if let Some(l) = self.lease {
            return l.coords();
        }
        let mut out = [None; MAX_TREES];
        for (t, o) in out.iter_mut().enumerate().take(self.router.tree_count()) {
            *o = self.router.coords(t);
        }
        out
    }

    /// Whether `node` is a parent, child or pending parent of this node in some tree.
    pub(crate) fn is_structural(&self, node: &NodeId) -> bool {
        self.nb_of(node)
            .is_some_and(|nb| self.router.is_structural_neighbour(nb))
    }

    fn nb_of(&self, node: &NodeId) -> Option<NeighbourId> {
        self.nbs
            .iter()
            .position(|n| n.as_ref() == Some(node))
            .map(|i| NeighbourId(i as u16))
    }

    fn nb_node(&self, nb: NeighbourId) -> Option<NodeId> {
        self.nbs.get(usize::from(nb.0)).copied().flatten()
    }

    fn nb_alloc(&mut self, node: NodeId) -> Option<NeighbourId> {
        if let Some(nb) = self.nb_of(&node) {
            return Some(nb);
        }
        let i = self.nbs.iter().position(Option::is_none)?;
        self.nbs[i] = Some(node);
        Some(NeighbourId(i as u16))
    }

    fn remember_reverse(&mut self, now: Instant, origin: NodeId, via: NodeId) {
        let until = now + REVERSE_HOLD;
        let i = self
            .reverse
            .iter()
            .position(|e| e.is_some_and(|(o, _, _)| o == origin))
            .or_else(|| {
                self.reverse
                    .iter()
                    .position(|e| e.is_none_or(|(_, _, u)| u <= now))
            })
            .unwrap_or_else(|| {
                (0..REVERSE)
                    .min_by_key(|&i| self.reverse[i].map_or(Instant::ZERO, |e| e.2))
                    .unwrap_or(0)
            });
        self.reverse[i] = Some((origin, via, until));
    }

    fn reverse_via(&self, now: Instant, origin: &NodeId) -> Option<NodeId> {
        self.reverse
            .iter()
            .flatten()
            .find(|(o, _, u)| o == origin && *u > now)
            .map(|e| e.1)
    }

    fn avoid(&mut self, now: Instant, dest: NodeId, nb: NodeId) {
        let i = self
            .avoid
            .iter()
            .position(|e| e.is_none_or(|(_, _, u)| u <= now))
            .unwrap_or_else(|| {
                (0..AVOID)
                    .min_by_key(|&i| self.avoid[i].map_or(Instant::ZERO, |e| e.2))
                    .unwrap_or(0)
            });
        self.avoid[i] = Some((dest, nb, now + AVOID_HOLD));
    }

    /// A neighbour left: forget paths through it.
    fn forget_neighbour(&mut self, node: NodeId) {
        for e in self.reverse.iter_mut() {
            if e.is_some_and(|(_, v, _)| v == node) {
                *e = None;
            }
        }
    }

    /// Compact size of the live state (see `Node::routing_state_bytes`).
    pub(crate) fn state_bytes(&self, now: Instant) -> usize {
        let rnow = ri(now);
        let coords = |c: &Coords| Address::Coords(*c).buffer_len();
        let entry = hyphae_wire::beacon::TREE_ENTRY_FIXED_LEN;
        let own: usize = self
            .position()
            .iter()
            .flatten()
            .map(|c| entry + coords(c))
            .sum();
        let nbs = self.router.neighbour_state_bytes();
        let names = self.names.state_bytes(rnow);
        let reverse = self.reverse.iter().flatten().filter(|e| e.2 > now).count() * 10;
        let services = self
            .own_services
            .iter()
            .map(|(_, n)| 3 + n.len())
            .sum::<usize>()
            + self.services.live(rnow) * 14;
        own + nbs + names + reverse + services + self.fwd.live(rnow) * 12
    }
}

/// A service provider found by [`crate::Node::find_service`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceProvider {
    /// The providing node.
    pub node: NodeId,
    /// The application serving it there.
    pub app: AppId,
    /// Tree distance to it (smallest over the trees); `None` when its position is unknown.
    pub distance: Option<u32>,
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    super::Node<P, T, IN, OUT, M>
{
    fn tree(&self) -> Option<&TreeState<P>> {
        match &self.rt {
            RoutingState::Tree(t) => Some(t),
            _ => None,
        }
    }

    fn tree_mut(&mut self) -> Option<&mut TreeState<P>> {
        match &mut self.rt {
            RoutingState::Tree(t) => Some(t),
            _ => None,
        }
    }

    // ----- public API --------------------------------------------------------------------

    /// This node's coordinates per tree (tree mode, once placed; `None` elsewhere).
    pub fn position(&self) -> [Option<Coords>; MAX_TREES] {
        self.tree().map_or([None; MAX_TREES], TreeState::position)
    }

    /// Whether this node is attached (has a live path to the root) in every tree in use.
    pub fn tree_attached(&self) -> bool {
        self.tree()
            .is_some_and(|t| (0..t.router.tree_count()).all(|i| t.router.is_attached(i)))
    }

    /// The root and epoch of tree `t` as this node knows them (tree mode).
    pub fn tree_root(&self, t: usize) -> Option<([u8; 4], u16)> {
        self.tree()?.router.tree_state(t).map(|(r, e)| (r.0, e))
    }

    /// Start a trace route to `dest` (tree mode): a probe routed like data, on which every
    /// forwarding node and the destination record a hop (short id, RSSI and link quality of the
    /// link it arrived on); the reply brings them back as [`crate::Event::TraceDone`], and
    /// [`crate::Node::trace_hops`] returns them. One trace at a time: a new one replaces the last.
    pub fn trace(&mut self, now: Instant, dest: NodeId) -> Result<u16, SendError> {
        if dest == self.id {
            return Err(SendError::BadDestination);
        }
        let route = self.route_to(&dest).ok_or(SendError::BadDestination)?;
        let Some(t) = self.tree_mut() else {
            return Err(SendError::BadDestination);
        };
        let probe = t.next_probe;
        t.next_probe = t.next_probe.wrapping_add(1);
        t.probe = Some((probe, now));
        let body = Body::Trace(TraceRepr::new(probe, false));
        let mut buf = [0u8; M];
        let len = self
            .emit_to(&mut buf, dest, &route, body, Flags::default())
            .ok_or(SendError::TooLarge)?;
        if self.push_frame(route.link, route.to, &buf[..len], true) {
            Ok(probe)
        } else {
            Err(SendError::Busy)
        }
    }

    /// The hops of the last completed trace with id `probe` (forwarding nodes, then the
    /// destination).
    pub fn trace_hops(&self, probe: u16) -> Option<&[Hop]> {
        self.tree()?
            .last_trace
            .as_ref()
            .filter(|r| r.probe == probe)
            .map(TraceRepr::hops)
    }

    // ----- hooks -------------------------------------------------------------------------

    /// Tree-mode timers, on the router's tick (twice per beacon interval), so the many calls
    /// of `handle_timeout` between ticks cost nothing.
    pub(super) fn tree_tick(&mut self, now: Instant) {
        let rnow = ri(now);
        let due = self
            .tree()
            .is_some_and(|t| t.router.poll_timeout().is_some_and(|d| d <= rnow));
        if !due {
            return;
        }
        // Neighbours that left the peer table (down or evicted) are lost to the router.
        for i in 0..P {
            let RoutingState::Tree(t) = &mut self.rt else {
                return;
            };
            if let Some(n) = t.nbs[i]
                && self.peers.get(&n).is_none()
            {
                t.router.on_neighbour_lost(rnow, NeighbourId(i as u16));
                t.nbs[i] = None;
                t.forget_neighbour(n);
            }
        }
        let Some(t) = self.tree_mut() else { return };
        t.router.handle_timeout(rnow);
        self.drain_router(now);
        self.lease_tick(now);
        self.gossip_anti_entropy(now);
        self.refresh_claims(now);
        self.announce_position(now);
        self.announce_services(now);
        self.request_positions(now);
    }

    /// Any frame from neighbour `from` keeps it alive in the router (not only its beacons, which
    /// collide more often than unicast frames that the link layer retries).
    pub(super) fn tree_heard(&mut self, now: Instant, from: &NodeId) {
        if let Some(t) = self.tree_mut()
            && let Some(nb) = t.nb_of(from)
        {
            t.router.heard(ri(now), nb);
        }
    }

    pub(super) fn tree_on_beacon(&mut self, now: Instant, b: &BeaconRepr) {
        let quality = self
            .peers
            .get(&b.node)
            .map_or(0, |p| 255 - p.loss_256.min(255) as u8);
        let Some(t) = self.tree_mut() else { return };
        let Some(nb) = t.nb_alloc(b.node) else {
            return;
        };
        t.router.on_beacon(ri(now), nb, b.node, quality, b.trees());
        self.drain_router(now);
        self.ask_claims(now, b.node, b);
    }

    pub(super) fn tree_body(&mut self, now: Instant, from: NodeId, body: &Body<'_>) -> bool {
        let rnow = ri(now);
        match body {
            Body::Tree(msg) => {
                if msg.op == hyphae_wire::tree::Op::LeaseGrant
                    && self.on_lease_grant(now, from, msg)
                {
                    return true;
                }
                let Some(t) = self.tree_mut() else {
                    return false;
                };
                if let Some(nb) = t.nb_alloc(from) {
                    t.router.on_tree_message(rnow, nb, msg);
                }
                self.drain_router(now);
                true
            }
            Body::Gossip(g) => {
                self.tree_gossip(now, from, g);
                true
            }
            Body::Trace(probe) => {
                self.on_trace(now, from, probe);
                true
            }
            Body::Service(s) => {
                // A one-hop service announcement: unsigned, so refused in a secured network
                // (signed announcements travel as gossip, `signed.rs`).
                if self.security.is_some() {
                    self.counters.drop(DropReason::Unauthenticated);
                } else if let Some(t) = self.tree_mut() {
                    t.services.on_announcement(rnow, s);
                }
                true
            }
            _ => false,
        }
    }

    /// A routed frame in tree mode. Node-id destinations take the default path (static route,
    /// reverse path, name cache); coordinates are forwarded greedily here.
    pub(super) fn tree_in(
        &mut self,
        now: Instant,
        frame: &Frame<'_>,
        r: &RoutingRepr,
        from: NodeId,
    ) -> Inbound {
        let Address::Node(src) = r.src else {
            return Inbound::Pass;
        };
        let kind = frame.header.kind;
        let bounced = frame.header.flags.error() && kind != Kind::Error;
        if !bounced
            && src != self.id
            && let Some(t) = self.tree_mut()
        {
            t.remember_reverse(now, src, from);
        }
        let Address::Coords(d) = r.dst else {
            return Inbound::Pass;
        };
        if bounced && src == self.id {
            self.origin_bounce(now, frame, from);
            return Inbound::Done;
        }
        if let Some(l) = self.tree().and_then(|t| t.lease) {
            // A leaf forwards nothing; it takes what is addressed to it.
            if r.dst_id == Some(self.id.short()) || l.coords().contains(&Some(d)) {
                return Inbound::Local(src);
            }
            self.counters.drop(DropReason::NoRoute);
            return Inbound::Done;
        }
        let rnow = ri(now);
        let id = self.id;
        let Some(t) = self.tree_mut() else {
            return Inbound::Pass;
        };
        let h = usize::from(r.tree);
        // The destination per tree as the header carries it (the frame keeps exactly these),
        // then completed from the name cache.
        let mut carried = [None; MAX_TREES];
        if h < MAX_TREES && t.router.epoch_matches(h, r.epoch, EPOCH_WINDOW) {
            carried[h] = Some(d);
        }
        for (c, other) in r
            .alt
            .iter()
            .zip(hyphae_wire::routing::alternate_trees(r.tree))
        {
            if let Some(slot) = carried.get_mut(usize::from(other)) {
                *slot = slot.or(*c);
            }
        }
        let mut dest = carried;
        if let Some(e) = carried
            .iter()
            .enumerate()
            .find_map(|(i, c)| t.names.by_coords(rnow, i, c.as_ref()?))
        {
            for (slot, c) in dest.iter_mut().zip(e.coords) {
                if slot.is_none() {
                    *slot = c;
                }
            }
        }
        let metric = match frame.header.flags.metric() {
            hyphae_wire::Metric::TreeDistance => Metric::TreeDistance,
            hyphae_wire::Metric::CommonPrefix => Metric::CommonPrefix,
        };
        let pred = t.nb_of(&from);
        let key = frame_key(&src, frame);
        let TreeState { fwd, router, .. } = t;
        let decision = fwd.route(router, rnow, key, pred, bounced, r.tree, &dest, metric);
        let (next, out) = match decision {
            // Coordinates are locators: after a renumbering another node may hold them. The
            // destination id tells; the origin re-resolves on the notice.
            Decision::Deliver if r.dst_id.is_some_and(|d| d != id.short()) => {
                self.counters.drop(DropReason::WrongDestination);
                if let Some(tr) = data_transfer(frame) {
                    self.queue_notice(now, src, Code::Unreachable, tr);
                }
                return Inbound::Done;
            }
            Decision::Deliver => return Inbound::Local(src),
            Decision::Proxy(node) => {
                // A leased device below us: hand the frame over, header unchanged.
                let Some(nb) = t.nb_of(&node) else {
                    self.counters.drop(DropReason::NoRoute);
                    return Inbound::Done;
                };
                let hdr = RoutingRepr {
                    hop_limit: r.hop_limit.saturating_sub(1),
                    ..*r
                };
                (nb, (hdr, kind == Kind::Error))
            }
            Decision::Forward {
                neighbour,
                tree,
                coords,
            } => {
                let epoch = router
                    .tree_state(usize::from(tree))
                    .map_or(r.epoch, |s| s.1);
                let mut alt = [None; hyphae_wire::routing::MAX_ALTERNATES];
                for (slot, other) in alt
                    .iter_mut()
                    .zip(hyphae_wire::routing::alternate_trees(tree))
                {
                    if other != tree {
                        *slot = carried.get(usize::from(other)).copied().flatten();
                    }
                }
                let hdr = RoutingRepr {
                    hop_limit: r.hop_limit.saturating_sub(1),
                    tree,
                    epoch,
                    dst: Address::Coords(coords),
                    dst_id: r.dst_id,
                    alt,
                    src: r.src,
                };
                (neighbour, (hdr, kind == Kind::Error))
            }
            Decision::Backtrack(nb) => {
                let hdr = RoutingRepr {
                    hop_limit: r.hop_limit.saturating_sub(1),
                    ..*r
                };
                self.rstats.backtracks += 1;
                (nb, (hdr, true))
            }
            Decision::Unreachable => {
                self.rstats.unreachable += 1;
                self.counters.drop(DropReason::NoRoute);
                if let Some(tr) = data_transfer(frame) {
                    self.queue_notice(now, src, Code::Unreachable, tr);
                }
                return Inbound::Done;
            }
        };
        if r.hop_limit <= 1 {
            self.rstats.hop_limit_drops += 1;
            self.counters.drop(DropReason::HopLimit);
            if let Some(tr) = data_transfer(frame) {
                self.queue_notice(now, src, Code::HopLimitExceeded, tr);
            }
            return Inbound::Done;
        }
        let Some(node) = self.tree().and_then(|t| t.nb_node(next)) else {
            self.counters.drop(DropReason::NoRoute);
            return Inbound::Done;
        };
        let Some((link, to)) = self.neighbour_link(&node) else {
            self.counters.drop(DropReason::NoRoute);
            return Inbound::Done;
        };
        let (hdr, error) = out;
        let mut buf = [0u8; M];
        let throttle = self.congested();
        // A trace probe going forward gets this node's hop record.
        let mut body_buf = [0u8; hyphae_wire::trace::HEADER_LEN + 8 * hyphae_wire::trace::MAX_HOPS];
        let mut body = frame.body;
        if let Ok(Body::Trace(mut probe)) = frame.body()
            && !probe.reply
            && !error
            && probe.push(self.hop_record(&from, self.rx_meta)).is_ok()
            && let Ok(n) = Body::Trace(probe).emit(&mut body_buf)
        {
            body = &body_buf[..n];
        }
        let mtu = self.links[usize::from(link.0)].info.mtu;
        let (mut hdr, mut shed) = (hdr, hdr.alt.len());
        let len = loop {
            match reemit(frame, &hdr, body, error, throttle, &mut buf) {
                Some(len) if len <= mtu => break len,
                // Deeper coordinates after a renumbering: shed alternates before giving up.
                _ if shed > 0 => {
                    shed -= 1;
                    hdr.alt[shed] = None;
                }
                _ => {
                    self.counters.drop(DropReason::TooLarge);
                    return Inbound::Done;
                }
            }
        };
        if self.push_frame(link, to, &buf[..len], false) {
            self.counters.forwarded += 1;
            if !error || kind == Kind::Error {
                self.rstats.greedy_forwards += 1;
            }
        }
        let _ = id;
        Inbound::Done
    }

    /// A trace probe for this node (answer it) or a reply to our probe (report it).
    fn on_trace(&mut self, now: Instant, origin: NodeId, probe: &TraceRepr) {
        if probe.reply {
            let Some(t) = self.tree_mut() else { return };
            let Some((id, sent)) = t.probe.filter(|(id, _)| *id == probe.probe) else {
                self.counters.drop(DropReason::Stale);
                return;
            };
            t.probe = None;
            t.last_trace = Some(*probe);
            self.push(crate::event::Event::TraceDone {
                probe: id,
                hops: probe.hops().len() as u8,
                rtt: now.saturating_since(sent),
            });
            return;
        }
        let mut reply = hyphae_routing::trace::reply(probe);
        let _ = reply.push(self.hop_record(&origin, self.rx_meta));
        let Some(route) = self.route_to(&origin) else {
            self.counters.drop(DropReason::NoRoute);
            return;
        };
        let mut buf = [0u8; M];
        if let Some(len) = self.emit_to(
            &mut buf,
            origin,
            &route,
            Body::Trace(reply),
            Flags::default(),
        ) {
            self.push_frame(route.link, route.to, &buf[..len], true);
        }
    }

    /// This node's hop record for a frame that arrived from neighbour `from` with `meta`.
    fn hop_record(&self, from: &NodeId, meta: RxMeta) -> Hop {
        let rssi = meta
            .rssi
            .or_else(|| self.peers.get(from).and_then(|p| p.rssi))
            .map_or(0, |r| r.clamp(-128, 127) as i8);
        let quality = self
            .peers
            .get(from)
            .map_or(0, |p| 255 - p.loss_256.min(255) as u8);
        Hop {
            node: self.id.short(),
            rssi,
            quality,
            latency_ms: 0,
        }
    }

    /// One of our own frames came back: avoid that neighbour for the destination and fail the
    /// transfer if no candidate is left.
    fn origin_bounce(&mut self, now: Instant, frame: &Frame<'_>, from: NodeId) {
        let Some(tr) = data_transfer(frame) else {
            return;
        };
        let Some(i) = self
            .outbound
            .iter()
            .position(|t| t.id == tr && t.dest.is_some())
        else {
            return;
        };
        let Some(dest) = self.outbound[i].dest else {
            return;
        };
        if let Some(t) = self.tree_mut() {
            t.avoid(now, dest, from);
        }
        if self.route_to(&dest).is_none() {
            self.rstats.unreachable += 1;
            self.fail(i, FailReason::Unreachable, Some(from));
        }
    }

    /// The route to a non-neighbour in tree mode: greedy on its cached coordinates, else back
    /// along the reverse path of its own frames.
    pub(super) fn tree_route(&self, dest: &NodeId) -> Option<Route> {
        let t = self.tree()?;
        if t.lease.is_some()
            && let Some(r) = self.leaf_route(dest)
        {
            return Some(r);
        }
        let now = self.last_now;
        let rnow = ri(now);
        if let Some(coords) = t.names.resolve(rnow, *dest) {
            let mut exclude = [NeighbourId(u16::MAX); AVOID];
            for (slot, (_, n, _)) in exclude.iter_mut().zip(
                t.avoid
                    .iter()
                    .flatten()
                    .filter(|(d, _, u)| d == dest && *u > now),
            ) {
                *slot = t.nb_of(n).unwrap_or(NeighbourId(u16::MAX));
            }
            let carry = (0..t.router.tree_count())
                .filter_map(|i| {
                    let c = coords[i]?;
                    Some((t.router.own_distance(rnow, i, &c, t.metric)?, i))
                })
                .min()
                .map(|x| x.1);
            if let Some(h) = carry
                && let Decision::Forward {
                    neighbour,
                    tree,
                    coords,
                } = t.router.next_hop(rnow, h, &coords, t.metric, &exclude)
                && let Some(node) = t.nb_node(neighbour)
                && let Some((link, to)) = self.neighbour_link(&node)
            {
                let epoch = t.router.tree_state(usize::from(tree)).map_or(0, |s| s.1);
                return Some(Route {
                    link,
                    to,
                    header_len: tree_header_len(coords),
                    via: Via::Tree {
                        tree,
                        epoch,
                        coords,
                    },
                });
            }
        }
        let via = t.reverse_via(now, dest)?;
        let (link, to) = self.neighbour_link(&via)?;
        Some(Route {
            link,
            to,
            header_len: super::route::NODE_HEADER_LEN,
            via: Via::Node,
        })
    }

    /// Send the router's queued tree messages; beacon early when its entries changed.
    /// The destination's coordinates in the trees other than `tree` (`frames.md` §3), from the
    /// name cache, for the alternates of a routing header this node originates.
    pub(super) fn tree_alternates(
        &self,
        dest: &NodeId,
        tree: u8,
    ) -> [Option<Coords>; hyphae_wire::routing::MAX_ALTERNATES] {
        let mut alt = [None; hyphae_wire::routing::MAX_ALTERNATES];
        let Some(t) = self.tree() else { return alt };
        let Some(coords) = t.names.resolve(ri(self.last_now), *dest) else {
            return alt;
        };
        let trees = t.router.tree_count();
        for (slot, other) in alt
            .iter_mut()
            .zip(hyphae_wire::routing::alternate_trees(tree))
        {
            let other = usize::from(other);
            if other < trees && other != usize::from(tree) {
                *slot = coords.get(other).copied().flatten();
            }
        }
        alt
    }

    fn drain_router(&mut self, now: Instant) {
        loop {
            let Some(t) = self.tree_mut() else { return };
            let Some((dest, msg)) = t.router.poll_message() else {
                break;
            };
            let to = match dest {
                Dest::Neighbour(nb) => t.nb_node(nb),
                Dest::Broadcast => None,
            };
            if msg.op == hyphae_wire::tree::Op::Claim && self.security.is_some() {
                if self.send_signed_claim(&msg) {
                    self.rstats.tree_messages += 1;
                }
                continue;
            }
            let mut buf = [0u8; M];
            let Some(len) = self.tree_frame(&msg, &mut buf) else {
                continue;
            };
            let sent = match (dest, to) {
                (Dest::Broadcast, _) => self.push_broadcast(&buf[..len], true),
                (Dest::Neighbour(_), Some(node)) => match self.neighbour_link(&node) {
                    Some((link, addr)) => self.push_frame(link, addr, &buf[..len], true),
                    None => false,
                },
                (Dest::Neighbour(_), None) => false,
            };
            if sent {
                self.rstats.tree_messages += 1;
            }
        }
        let Some(t) = self.tree_mut() else { return };
        if t.router.take_beacon_request() {
            // Beacon soon, but not more than four times per interval.
            let at = now.max(t.last_early_beacon + t.interval / 4);
            t.last_early_beacon = at;
            self.next_beacon = self.next_beacon.min(at);
        }
    }
}

/// Routing-header bytes a transfer addressed to `coords` reserves: fixed part, destination
/// coordinates with room for a renumbering to deeper ones (so later fragments still fit), the
/// destination id (4 B) and the source node id. Alternates are not reserved: a frame that lacks
/// room sheds them (`Node::emit_to`), so they never lower the payload a frame carries.
pub(super) fn tree_header_len(coords: Coords) -> usize {
    let dst = Address::Coords(coords)
        .buffer_len()
        .saturating_add(2)
        .max(hyphae_wire::sizes::coords_len(16));
    hyphae_wire::routing::FIXED_LEN + dst + 4 + 9
}

/// The transfer id of a unicast data frame (Single or Fragment), for notices.
fn data_transfer(frame: &Frame<'_>) -> Option<u16> {
    let t = match frame.body().ok()? {
        Body::Single(s) => s.transfer,
        Body::Fragment(f) => f.transfer,
        _ => return None,
    };
    (!super::is_broadcast_transfer(t)).then_some(t)
}

/// A key identifying one frame end to end for backtracking: origin, kind, transfer and
/// fragment index (or ack base).
fn frame_key(src: &NodeId, frame: &Frame<'_>) -> u32 {
    let (a, b) = match frame.body() {
        Ok(Body::Single(s)) => (s.transfer, 0),
        Ok(Body::Fragment(f)) => (f.transfer, f.index),
        Ok(Body::Ack { ack, .. }) => (ack.transfer, ack.base),
        Ok(Body::Notice(n)) => (n.transfer, 0xffff),
        _ => (0, 0),
    };
    // FNV-1a over the parts.
    let mut h: u32 = 0x811c_9dc5;
    let kind = frame.header.kind as u8;
    for byte in src
        .0
        .iter()
        .copied()
        .chain([kind])
        .chain(a.to_le_bytes())
        .chain(b.to_le_bytes())
    {
        h ^= u32::from(byte);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Re-emit a received frame with routing header `hdr` and body bytes `body`, the error flag
/// set or cleared, and the throttle flag set when `throttle`. Insecure frames only.
fn reemit(
    frame: &Frame<'_>,
    hdr: &RoutingRepr,
    body: &[u8],
    error: bool,
    throttle: bool,
    buf: &mut [u8],
) -> Option<usize> {
    if frame.security.is_some() {
        return None;
    }
    let hl = hyphae_wire::header::HEADER_LEN;
    let rl = hdr.buffer_len();
    let total = hl + rl + body.len();
    let out = buf.get_mut(..total)?;
    let mut h = frame.header;
    h.flags = h.flags.with_error(error);
    if throttle {
        h.flags = h.flags.with_throttle(true);
    }
    h.emit(&mut hyphae_wire::HeaderPacket::new_unchecked(
        &mut out[..hl],
    ))
    .ok()?;
    hdr.emit(&mut hyphae_wire::RoutingPacket::new_unchecked(
        &mut out[hl..hl + rl],
    ))
    .ok()?;
    out[hl + rl..].copy_from_slice(body);
    Some(total)
}

mod asks;
mod claims;
mod gossip;
pub(crate) use gossip::{GOSSIP_APP, GOSSIP_FETCH_MAX};
mod leases;
mod names;
mod signed;
pub use signed::SignedAssignment;
#[cfg(test)]
mod tests;
