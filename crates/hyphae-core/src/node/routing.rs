//! The routing modes behind one seam: state, statistics and the hooks `rx.rs`, `tx.rs` and
//! `mod.rs` call. The modes themselves live in `tree.rs` (greedy routing on spanning trees,
//! `hyphae-routing`) and `flood.rs` (managed flooding); [`crate::config::Routing`] picks one.

use hyphae_link::{LinkAddr, RxMeta};
use hyphae_wire::frame::{Body, Frame};
use hyphae_wire::{BeaconRepr, NodeId, RoutingRepr};

use super::flood::FloodState;
use super::tree::TreeState;
use super::{Node, Queued};
use crate::config::Routing;
use crate::event::{DeliveryId, DropReason, Event};
use crate::links::LinkId;
use crate::time::Instant;

/// The state of the configured routing mode (created when the node starts).
#[allow(clippy::large_enum_variant)]
pub(crate) enum RoutingState<const P: usize, const M: usize> {
    /// Static routes only, or not started yet.
    Off,
    /// Tree routing.
    Tree(TreeState<P>),
    /// Managed flooding.
    Flood(FloodState<M>),
}

/// Counters of the routing layer (for the simulator's figures and for metrics).
///
/// Control bytes of routing (beacons with their tree entries, tree messages, gossip) are counted
/// in [`crate::Counters::control_bytes_out`]; forwarded and rebroadcast data frames are not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutingStats {
    /// Tree messages sent (claim, join, assign, leave, lease).
    pub tree_messages: u64,
    /// Gossip frames sent (own announcements and relayed messages).
    pub gossip_sent: u64,
    /// Routed frames forwarded greedily on tree coordinates.
    pub greedy_forwards: u64,
    /// Routed frames returned to their predecessor at a local minimum (backtracking).
    pub backtracks: u64,
    /// Frames this node found no way forward for (unreachable notices or local failures).
    pub unreachable: u64,
    /// Routed frames dropped at hop limit 0.
    pub hop_limit_drops: u64,
    /// Flood mode: frames rebroadcast.
    pub flood_rebroadcasts: u64,
    /// Flood mode: rebroadcasts cancelled because another node rebroadcast first.
    pub flood_cancelled: u64,
    /// Flood mode: copies of an already handled (source, sequence) dropped.
    pub flood_duplicates: u64,
    /// Flood mode: rebroadcasts dropped because the pending table or the queue was full.
    pub flood_overflow: u64,
    /// Tree mode: parent changes (all trees), from the router.
    pub reparents: u32,
    /// Tree mode: coordinate changes (all trees), from the router.
    pub renumbers: u32,
    /// Tree mode: roots declared dead.
    pub root_losses: u32,
    /// Tree mode: times this node became a root.
    pub claims: u32,
    /// Tree mode: join requests by reason (`hyphae_routing::router::join_reason`).
    pub joins: [u32; 4],
}

/// Whether the routing mode wants `id` kept in a full peer table (a tree parent or child).
pub(super) fn keeps_peer<const P: usize, const M: usize>(
    rt: &RoutingState<P, M>,
    id: &NodeId,
) -> bool {
    match rt {
        RoutingState::Tree(t) => t.is_structural(id),
        _ => false,
    }
}

/// What the routing layer did with a routed frame.
pub(super) enum Inbound {
    /// Not the routing mode's business: the default handling (node-id addresses) applies.
    Pass,
    /// For this node: process the body as sent by this origin.
    Local(NodeId),
    /// Consumed (forwarded, scheduled, dropped and counted).
    Done,
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// Counters of the routing layer (tree or flood mode; the router's own counters included).
    pub fn routing_stats(&self) -> RoutingStats {
        let mut s = self.rstats;
        if let RoutingState::Tree(t) = &self.rt {
            let r = t.router_stats();
            s.reparents = r.reparents;
            s.renumbers = r.renumbers;
            s.root_losses = r.root_losses;
            s.claims = r.claims;
            s.joins = r.joins;
        }
        s
    }

    /// Bytes of routing state **in use**, counted as its compact (wire) encoding: per
    /// neighbour its id and tree entries, own positions, name-cache, reverse-path, backtracking
    /// and service entries that are live (tree mode); live duplicate-cache entries and pending
    /// rebroadcasts (flood mode); 0 for static routing (the static table is not counted). See
    /// [`Node::routing_state_allocated`] for the memory the node reserves.
    pub fn routing_state_bytes(&self) -> usize {
        match &self.rt {
            RoutingState::Off => 0,
            RoutingState::Tree(t) => t.state_bytes(self.last_now),
            RoutingState::Flood(f) => f.state_bytes(self.last_now),
        }
    }

    /// Bytes of memory the routing state of this node type occupies (fixed by its capacities:
    /// the largest mode's state, whichever mode is configured).
    pub const fn routing_state_allocated(&self) -> usize {
        size_of::<RoutingState<P, M>>()
    }

    /// Create the state of the configured mode (once, when the node starts).
    pub(super) fn routing_start(&mut self, now: Instant) {
        self.rt = match self.config.routing {
            Routing::Static => RoutingState::Off,
            Routing::Tree {
                trees,
                metric,
                announce_hops,
            } => {
                let mtu = self.links.iter().map(|l| l.info.mtu).min().unwrap_or(M);
                // On a duty-cycled link beacons are spaced further apart: the router's interval
                // (its timers and neighbour timeout) follows the slowest link.
                let interval = self
                    .links
                    .iter()
                    .map(|l| l.beacon_gap(super::BEACON_LEN_ESTIMATE))
                    .fold(self.config.beacon_interval, Ord::max);
                RoutingState::Tree(TreeState::new(
                    self.id,
                    &self.config,
                    interval,
                    trees,
                    metric,
                    announce_hops,
                    mtu,
                    self.rng.next_u64(),
                    now,
                ))
            }
            Routing::Flood { .. } => RoutingState::Flood(FloodState::new(self.rng.next_u64())),
        };
        if self.security.is_some() {
            self.close_root_policy();
        }
        // Fetched gossip payloads travel as transfers to the core's own application.
        if matches!(self.rt, RoutingState::Tree(_))
            && let Some(app) = hyphae_wire::AppId::from_name(super::tree::GOSSIP_APP)
            && !self.apps.contains(&app)
        {
            let _ = self.apps.push(app);
        }
    }

    /// Timers of the routing mode.
    pub(super) fn routing_tick(&mut self, now: Instant) {
        match self.rt {
            RoutingState::Off => {}
            RoutingState::Tree(_) => self.tree_tick(now),
            RoutingState::Flood(_) => self.flood_tick(now),
        }
    }

    /// The routing mode's next deadline.
    pub(super) fn routing_timeout(&self) -> Option<Instant> {
        match &self.rt {
            RoutingState::Off => None,
            RoutingState::Tree(t) => Some(t.deadline()),
            RoutingState::Flood(f) => f.deadline(),
        }
    }

    /// Add the routing mode's entries to an outgoing beacon.
    pub(super) fn routing_beacon(&self, beacon: &mut BeaconRepr) {
        if let RoutingState::Tree(t) = &self.rt {
            t.beacon_entries(beacon);
        }
    }

    /// A neighbour's beacon (after the peer table took it).
    pub(super) fn routing_on_beacon(&mut self, now: Instant, b: &BeaconRepr) {
        if matches!(self.rt, RoutingState::Tree(_)) {
            self.tree_on_beacon(now, b);
        }
    }

    /// A routing body (Tree, Gossip, Service, Trace) from neighbour `from`; `false` if the
    /// configured mode does not handle it.
    pub(super) fn routing_body(&mut self, now: Instant, from: NodeId, body: &Body<'_>) -> bool {
        if matches!(self.rt, RoutingState::Tree(_)) {
            self.tree_body(now, from, body)
        } else {
            false
        }
    }

    /// A routed frame from neighbour `from`.
    pub(super) fn routed_in(
        &mut self,
        now: Instant,
        bytes: &[u8],
        frame: &Frame<'_>,
        r: &RoutingRepr,
        from: NodeId,
        meta: RxMeta,
    ) -> Inbound {
        match self.rt {
            RoutingState::Off => Inbound::Pass,
            RoutingState::Tree(_) => self.tree_in(now, frame, r, from),
            RoutingState::Flood(_) => self.flood_in(now, bytes, frame, r, from, meta),
        }
    }

    /// Queue a ready frame for `to` on `link`; `control` frames count as control bytes.
    pub(super) fn push_frame(
        &mut self,
        link: LinkId,
        to: LinkAddr,
        bytes: &[u8],
        control: bool,
    ) -> bool {
        if self.control.is_full() || bytes.len() > M {
            self.counters.drop(DropReason::QueueFull);
            return false;
        }
        let mut q = Queued {
            link,
            to,
            len: bytes.len(),
            control,
            retries: 0,
            bytes: [0; M],
        };
        q.bytes[..bytes.len()].copy_from_slice(bytes);
        self.control.push_back(q).is_ok()
    }

    /// Queue a frame for every neighbour on every broadcast link that is up.
    pub(super) fn push_broadcast(&mut self, bytes: &[u8], control: bool) -> bool {
        let mut any = false;
        for n in 0..self.links.len() {
            if self.links[n].info.broadcast
                && self.link_up[n]
                && bytes.len() <= self.links[n].info.mtu
            {
                any |= self.push_frame(LinkId(n as u8), LinkAddr::BROADCAST, bytes, control);
            }
        }
        any
    }

    /// Hand a gossip payload on a subscribed topic to the shell ([`Event::Gossip`]).
    pub(super) fn deliver_gossip(&mut self, now: Instant, topic: u16, origin: [u8; 4], p: &[u8]) {
        let Some(region) = self.in_arena.alloc(p.len()) else {
            self.counters.drop(DropReason::Busy);
            return;
        };
        self.in_arena.get_mut(region).copy_from_slice(p);
        let id = DeliveryId(self.next_delivery);
        self.next_delivery = self.next_delivery.wrapping_add(1);
        let rec = super::DeliveryRec {
            id,
            region,
            offset: 0,
            len: p.len(),
            created: now,
        };
        if self.deliveries.push(rec).is_err() {
            self.in_arena.free(region);
            self.counters.drop(DropReason::QueueFull);
            return;
        }
        self.push(Event::Gossip {
            id,
            topic,
            origin,
            len: p.len(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::RoutingState;

    /// Routing state must stay small: 10 000 simulated nodes in a few GiB, and the ESP32-C3
    /// node firmware (`Node<16, 4, 16 KiB, 6 KiB, 250>`) within its static RAM budget (CI checks
    /// the firmware itself).
    #[test]
    fn routing_state_stays_small() {
        let (state, sim) = (
            size_of::<RoutingState<16, 250>>(),
            size_of::<crate::SimNode>(),
        );
        assert!(state <= 22 * 1024, "RoutingState<16, 250>: {state} B");
        assert!(sim <= 72 * 1024, "SimNode: {sim} B");
    }
}
