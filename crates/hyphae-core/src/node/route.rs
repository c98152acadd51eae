//! The route seam: where a frame to a node goes next.
//!
//! A destination is reached directly when it is a neighbour (peer table), else through a static
//! next hop the shell or simulator installs with [`Node::set_route`] (an override in every
//! routing mode), else as the configured [`Routing`] mode decides: greedy on tree coordinates
//! (`tree.rs`), or managed flooding (`flood.rs`). `route_to` answers "which link, which link
//! address, how many routing-header bytes, which header"; `emit_to` builds the header from it.

use hyphae_link::LinkAddr;
use hyphae_wire::{Address, Coords, Flags, NodeId, RoutingRepr};

use super::Node;
use crate::config::Routing;
use crate::links::LinkId;

/// Where a frame to some node goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub(crate) link: LinkId,
    pub(crate) to: LinkAddr,
    /// Bytes of routing header reserved (0 when the destination is a neighbour). For tree
    /// routes this includes slack, so a transfer's fragment size survives a renumbering.
    pub(crate) header_len: usize,
    /// What the routing header says.
    pub(crate) via: Via,
}

/// How a routed frame is addressed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via {
    /// A neighbour: no routing header.
    Direct,
    /// Node-id addresses both ways, next hop chosen per node (static routes, reverse paths).
    Node,
    /// Tree coordinates of the destination in `tree`, carried with that tree's `epoch`.
    Tree {
        tree: u8,
        epoch: u16,
        coords: Coords,
    },
    /// Managed flooding: broadcast, node-id addresses, the flood sequence in the epoch field.
    Flood,
}

/// Routing header bytes with full node-id addresses both ways: 3 + 9 + 9.
pub(crate) const NODE_HEADER_LEN: usize = hyphae_wire::routing::FIXED_LEN + 18;

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// Install a static next hop for `dest`: frames to it go to the neighbour `via` (on the link
    /// `via` was last heard on), with a routing header. Replaces an earlier route to `dest`;
    /// `false` when the table ([`super::STATIC_ROUTES`] entries) is full. A neighbour is always
    /// reached directly, whatever the table says; a static route overrides the routing mode.
    pub fn set_route(&mut self, dest: NodeId, via: NodeId) -> bool {
        self.routes.retain(|(d, _)| *d != dest);
        self.routes.push((dest, via)).is_ok()
    }

    /// Remove the static route to `dest`.
    pub fn remove_route(&mut self, dest: &NodeId) {
        self.routes.retain(|(d, _)| d != dest);
    }

    /// Remove every static route.
    pub fn clear_routes(&mut self) {
        self.routes.clear();
    }

    /// The next hop towards `dest`: the neighbour itself, else a static route, else the
    /// routing mode's answer.
    pub(crate) fn route_to(&self, dest: &NodeId) -> Option<Route> {
        if let Some((link, to)) = self.neighbour_link(dest) {
            return Some(Route {
                link,
                to,
                header_len: 0,
                via: Via::Direct,
            });
        }
        if let Some(via) = self.routes.iter().find(|(d, _)| d == dest).map(|r| r.1) {
            let (link, to) = self.neighbour_link(&via)?;
            return Some(Route {
                link,
                to,
                header_len: NODE_HEADER_LEN,
                via: Via::Node,
            });
        }
        match self.config.routing {
            Routing::Static => None,
            Routing::Tree { .. } => self.tree_route(dest),
            Routing::Flood { .. } => self.flood_route(),
        }
    }

    /// The link and address of neighbour `id`, if it is in the peer table on a link that is up.
    pub(crate) fn neighbour_link(&self, id: &NodeId) -> Option<(LinkId, LinkAddr)> {
        let (link, to) = self.peers.get(id)?.route()?;
        let up = self
            .link_up
            .get(usize::from(link.0))
            .copied()
            .unwrap_or(false);
        up.then_some((link, to))
    }

    /// Estimated hops along `route`: 1 to a neighbour; the tree distance from this node's
    /// position to the destination's coordinates on a tree route (at least 2); 2 via a static
    /// route's next hop (its length is unknown); the hop limit for a flood.
    pub(crate) fn route_hops(&self, route: &Route) -> u8 {
        match route.via {
            Via::Direct => 1,
            Via::Node => 2,
            Via::Tree { tree, coords, .. } => self
                .position()
                .get(usize::from(tree))
                .copied()
                .flatten()
                .map_or(2, |own| {
                    hyphae_routing::metric::tree_distance(&own, &coords).clamp(2, 255) as u8
                }),
            Via::Flood => match self.config.routing {
                Routing::Flood { hop_limit, .. } => hop_limit,
                _ => 2,
            },
        }
    }

    /// The routing header of a frame this node originates to `dest` along `route`.
    pub(crate) fn routing_header(&self, dest: NodeId, route: &Route) -> Option<RoutingRepr> {
        let max = hyphae_wire::routing::MAX_HOP_LIMIT;
        let node = |hop_limit: u8, epoch: u16| RoutingRepr {
            hop_limit: hop_limit.min(max),
            tree: 0,
            epoch,
            dst: Address::Node(dest),
            dst_id: None,
            alt: [None; 2],
            src: Address::Node(self.id),
        };
        match route.via {
            Via::Direct => None,
            Via::Node => Some(node(self.config.hop_limit, 0)),
            Via::Tree {
                tree,
                epoch,
                coords,
            } => Some(RoutingRepr {
                hop_limit: self.config.hop_limit.min(max),
                tree,
                epoch,
                dst: Address::Coords(coords),
                dst_id: Some(dest.short()),
                alt: self.tree_alternates(&dest, tree),
                src: Address::Node(self.id),
            }),
            Via::Flood => {
                let hops = match self.config.routing {
                    Routing::Flood { hop_limit, .. } => hop_limit,
                    _ => self.config.hop_limit,
                };
                Some(node(hops, self.next_flood_seq()))
            }
        }
    }

    /// `flags` with the metric bit of a tree route.
    pub(crate) fn routing_flags(&self, flags: Flags, route: &Route) -> Flags {
        match (route.via, self.config.routing) {
            (Via::Tree { .. }, Routing::Tree { metric, .. }) => flags.with_metric(match metric {
                crate::config::Metric::TreeDistance => hyphae_wire::Metric::TreeDistance,
                crate::config::Metric::CommonPrefix => hyphae_wire::Metric::CommonPrefix,
            }),
            _ => flags,
        }
    }
}
