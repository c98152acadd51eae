//! Leased addresses (`routing.md` §5): a leaf device (capability `LEAF`) does not join the
//! trees. It asks a neighbour that is placed for a lease; the neighbour hands it coordinates
//! below its own (one child index per tree) and proxies frames addressed to them. The leaf
//! delivers frames whose destination id is its own, sends through its proxy, and renews the
//! lease before it ends.

use hyphae_wire::TreeRepr;
use hyphae_wire::tree::Op;

use super::*;

/// A leaf renews its lease this often (in beacon intervals; the grant lasts 600).
const RENEW_INTERVALS: u32 = 30;
/// A lease request without a grant is repeated after this many beacon intervals.
const RETRY_INTERVALS: u32 = 2;

/// A leaf's lease: the proxy, the leased coordinates per tree, when granted and last asked.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LeaseState {
    via: Option<NodeId>,
    coords: [Option<Coords>; MAX_TREES],
    granted: Option<Instant>,
    asked: Option<Instant>,
}

impl LeaseState {
    /// The leased coordinates (the leaf's position).
    pub(crate) fn coords(&self) -> [Option<Coords>; MAX_TREES] {
        self.coords
    }
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    crate::node::Node<P, T, IN, OUT, M>
{
    /// Ask for or renew the lease when due.
    pub(super) fn lease_tick(&mut self, now: Instant) {
        let Some(t) = self.tree() else { return };
        let Some(l) = t.lease else { return };
        let due = match (l.granted, l.asked) {
            (Some(g), _) => now >= g + t.interval * RENEW_INTERVALS,
            (None, Some(a)) => now >= a + t.interval * RETRY_INTERVALS,
            (None, None) => true,
        };
        // A proxy that left the peer table is replaced at once.
        let lost = l.via.is_some_and(|v| self.peers.get(&v).is_none());
        if !due && !lost {
            return;
        }
        let Some(t) = self.tree_mut() else { return };
        let keep = l
            .via
            .filter(|_| !lost)
            .and_then(|v| t.nb_of(&v))
            .filter(|nb| t.router.neighbour_tree(*nb, 0).is_some());
        let Some(nb) = keep.or_else(|| t.router.lease_candidate()) else {
            return;
        };
        let Some(node) = t.nb_node(nb) else { return };
        let Some((_, epoch, coords)) = t.router.neighbour_tree(nb, 0) else {
            return;
        };
        if let Some(l) = t.lease.as_mut() {
            if l.via != Some(node) {
                *l = LeaseState::default();
            }
            l.via = Some(node);
            l.asked = Some(now);
        }
        let ask = TreeRepr {
            op: Op::LeaseRequest,
            tree: 0,
            epoch,
            subject: self.id,
            address: Address::Coords(coords),
        };
        let mut buf = [0u8; M];
        if let (Some(len), Some((link, to))) =
            (self.tree_frame(&ask, &mut buf), self.neighbour_link(&node))
        {
            self.push_frame(link, to, &buf[..len], true);
        }
    }

    /// A lease grant from neighbour `from`; `true` if it was for this leaf.
    pub(super) fn on_lease_grant(&mut self, now: Instant, from: NodeId, msg: &TreeRepr) -> bool {
        let id = self.id;
        let Some(t) = self.tree_mut() else {
            return false;
        };
        let Some(l) = t.lease.as_mut() else {
            return false;
        };
        let Address::Coords(c) = msg.address else {
            return true;
        };
        if msg.subject != id || l.via != Some(from) {
            return true;
        }
        if let Some(slot) = l.coords.get_mut(usize::from(msg.tree)) {
            *slot = Some(c);
            l.granted = Some(now);
        }
        true
    }

    /// The route a leaf originates on: through its proxy, addressed by the destination's
    /// coordinates in the first tree where both are known.
    pub(super) fn leaf_route(&self, dest: &NodeId) -> Option<Route> {
        let t = self.tree()?;
        let l = t.lease?;
        let via = l.via?;
        let nb = t.nb_of(&via)?;
        let coords = t.names.resolve(ri(self.last_now), *dest)?;
        let (tree, c, epoch) = coords.iter().enumerate().find_map(|(i, c)| {
            let (_, epoch, _) = t.router.neighbour_tree(nb, i)?;
            Some((i as u8, (*c)?, epoch))
        })?;
        let (link, to) = self.neighbour_link(&via)?;
        Some(Route {
            link,
            to,
            header_len: tree_header_len(c),
            via: Via::Tree {
                tree,
                epoch,
                coords: c,
            },
        })
    }
}
