//! The route seam: where a frame to a node goes next.
//!
//! Today a destination is reached directly when it is a neighbour (peer table), else through a
//! static next hop the shell or simulator installs with [`Node::set_route`]. This file is the
//! one boundary tree routing (`hyphae-routing`) plugs into: `route_to` answers "which link, which
//! link address, how many routing-header bytes" for a destination, and `rx.rs`'s `forward` asks
//! it for transit frames. Routed frames carry full node-id addresses until coordinates exist.

use hyphae_link::LinkAddr;
use hyphae_wire::NodeId;

use super::Node;
use crate::links::LinkId;

/// Where a frame to some node goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub(crate) link: LinkId,
    pub(crate) to: LinkAddr,
    /// Bytes of routing header (0 when the destination is a neighbour).
    pub(crate) header_len: usize,
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// Install a static next hop for `dest`: frames to it go to the neighbour `via` (on the link
    /// `via` was last heard on), with a routing header. Replaces an earlier route to `dest`;
    /// `false` when the table ([`super::STATIC_ROUTES`] entries) is full. A neighbour is always
    /// reached directly, whatever the table says.
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

    /// The next hop towards `dest`: the neighbour itself, else a static route.
    pub(crate) fn route_to(&self, dest: &NodeId) -> Option<Route> {
        let up = |l: LinkId| self.link_up.get(usize::from(l.0)).copied().unwrap_or(false);
        if let Some((link, to)) = self.peers.get(dest).and_then(|p| p.route())
            && up(link)
        {
            return Some(Route {
                link,
                to,
                header_len: 0,
            });
        }
        let via = self.routes.iter().find(|(d, _)| d == dest)?.1;
        let (link, to) = self.peers.get(&via)?.route()?;
        up(link).then_some(Route {
            link,
            to,
            // Full node-id addresses both ways until coordinates exist: 3 + 9 + 9.
            header_len: hyphae_wire::routing::FIXED_LEN + 18,
        })
    }
}
