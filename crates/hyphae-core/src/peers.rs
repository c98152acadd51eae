//! The bounded peer table: least-recently-seen eviction (seed 004's rule), several links per
//! peer, link quality, ban list.

use hyphae_link::{LinkAddr, RxMeta};
use hyphae_wire::NodeId;

use crate::links::LinkId;
use crate::time::Instant;

/// Links on which one peer can be reached.
pub const LINKS_PER_PEER: usize = 2;
/// Application ids remembered per peer (from its beacons).
pub const APPS_PER_PEER: usize = 8;
/// Nodes on the ban list.
pub const BAN_LIST: usize = 8;

/// What the node knows of a neighbour.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The neighbour's node id.
    pub id: NodeId,
    /// Where it can be reached, most recently heard first.
    pub links: heapless::Vec<(LinkId, LinkAddr), LINKS_PER_PEER>,
    /// Last time any traffic was heard from it.
    pub last_seen: Instant,
    /// RSSI of its last frame, where the link reports one.
    pub rssi: Option<i16>,
    /// SNR of its last frame, where the link reports one.
    pub snr: Option<i8>,
    /// Beacon capability bits.
    pub caps: u8,
    /// Applications it announced.
    pub apps: heapless::Vec<u16, APPS_PER_PEER>,
    /// Estimated frame loss towards us, in 1/256 (from beacon sequence gaps, EWMA).
    pub loss_256: u16,
    last_beacon_seq: Option<u16>,
    pub(crate) awake_until: Instant,
    pub(crate) last_tx: Instant,
}

impl Peer {
    fn new(id: NodeId, now: Instant) -> Self {
        Self {
            id,
            links: heapless::Vec::new(),
            last_seen: now,
            rssi: None,
            snr: None,
            caps: 0,
            apps: heapless::Vec::new(),
            loss_256: 0,
            last_beacon_seq: None,
            awake_until: Instant::ZERO,
            last_tx: Instant::ZERO,
        }
    }

    /// The preferred (most recently heard) link and address.
    pub fn route(&self) -> Option<(LinkId, LinkAddr)> {
        self.links.first().copied()
    }

    /// Record traffic heard on `link` from `addr`.
    pub(crate) fn heard(&mut self, now: Instant, link: LinkId, addr: LinkAddr, meta: RxMeta) {
        self.last_seen = now;
        self.rssi = meta.rssi.or(self.rssi);
        self.snr = meta.snr.or(self.snr);
        if let Some(i) = self.links.iter().position(|(l, _)| *l == link) {
            self.links.remove(i);
        } else if self.links.is_full() {
            self.links.pop();
        }
        // Cannot fail: an entry was removed above if the vector was full.
        let _ = self.links.insert(0, (link, addr));
    }

    /// Update the loss estimate from a beacon sequence number.
    pub(crate) fn beacon_seq(&mut self, seq: u16) {
        if let Some(prev) = self.last_beacon_seq {
            let gap = seq.wrapping_sub(prev);
            if (1..1000).contains(&gap) {
                let lost = u32::from(gap - 1);
                let sample = (lost * 256 / u32::from(gap)).min(256);
                self.loss_256 = ((u32::from(self.loss_256) * 7 + sample) / 8) as u16;
            }
        }
        self.last_beacon_seq = Some(seq);
    }
}

/// The outcome of [`PeerTable::touch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    /// The peer was known.
    Known,
    /// The peer is new.
    New,
    /// The peer is new and evicted the least recently seen one.
    Evicted(NodeId),
    /// The peer is banned.
    Banned,
}

/// At most `P` peers.
#[derive(Debug)]
pub struct PeerTable<const P: usize> {
    peers: heapless::Vec<Peer, P>,
    banned: heapless::Vec<NodeId, BAN_LIST>,
}

impl<const P: usize> Default for PeerTable<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const P: usize> PeerTable<P> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            peers: heapless::Vec::new(),
            banned: heapless::Vec::new(),
        }
    }

    /// Insert or refresh a peer heard now.
    #[cfg(test)]
    pub(crate) fn touch(
        &mut self,
        now: Instant,
        id: NodeId,
        link: LinkId,
        addr: LinkAddr,
        meta: RxMeta,
    ) -> Touch {
        self.touch_keeping(now, id, link, addr, meta, |_| false)
    }

    /// [`PeerTable::touch`], but when the table is full the least recently seen peer for which
    /// `keep` is false is evicted (routing keeps its tree parents and children); if every peer
    /// is kept, the least recently seen one goes.
    pub(crate) fn touch_keeping(
        &mut self,
        now: Instant,
        id: NodeId,
        link: LinkId,
        addr: LinkAddr,
        meta: RxMeta,
        keep: impl Fn(&NodeId) -> bool,
    ) -> Touch {
        if self.banned.contains(&id) {
            return Touch::Banned;
        }
        if let Some(p) = self.peers.iter_mut().find(|p| p.id == id) {
            p.heard(now, link, addr, meta);
            return Touch::Known;
        }
        let mut result = Touch::New;
        if self.peers.is_full()
            && let Some((i, _)) = self
                .peers
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| (keep(&p.id), p.last_seen))
        {
            result = Touch::Evicted(self.peers.swap_remove(i).id);
        }
        let mut p = Peer::new(id, now);
        p.heard(now, link, addr, meta);
        // Cannot fail: a slot was freed above when full (P > 0).
        let _ = self.peers.push(p);
        result
    }

    /// The peer with this id.
    pub fn get(&self, id: &NodeId) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == *id)
    }

    pub(crate) fn get_mut(&mut self, id: &NodeId) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.id == *id)
    }

    /// The peer last heard at `addr` on `link`.
    pub fn by_addr(&self, link: LinkId, addr: &LinkAddr) -> Option<&Peer> {
        self.peers
            .iter()
            .find(|p| p.links.iter().any(|(l, a)| *l == link && a == addr))
    }

    pub(crate) fn by_addr_mut(&mut self, link: LinkId, addr: &LinkAddr) -> Option<&mut Peer> {
        self.peers
            .iter_mut()
            .find(|p| p.links.iter().any(|(l, a)| *l == link && a == addr))
    }

    /// Remove one peer other than `keep` whose only known address is `addr` on `link` (a
    /// peer also reachable elsewhere just loses that address); its id, if one was removed.
    pub(crate) fn forget_addr(
        &mut self,
        link: LinkId,
        addr: &LinkAddr,
        keep: &NodeId,
    ) -> Option<NodeId> {
        for i in 0..self.peers.len() {
            let p = &mut self.peers[i];
            if p.id == *keep || !p.links.iter().any(|(l, a)| *l == link && a == addr) {
                continue;
            }
            p.links.retain(|(l, a)| !(*l == link && a == addr));
            if p.links.is_empty() {
                return Some(self.peers.swap_remove(i).id);
            }
        }
        None
    }

    /// Every peer.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter()
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Remove peers whose silence exceeds what `allowed` grants them; calls `gone` for each.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        allowed: impl Fn(&Peer) -> core::time::Duration,
        mut gone: impl FnMut(NodeId),
    ) {
        let mut i = 0;
        while i < self.peers.len() {
            if now.saturating_since(self.peers[i].last_seen) > allowed(&self.peers[i]) {
                gone(self.peers.swap_remove(i).id);
            } else {
                i += 1;
            }
        }
    }

    /// The earliest instant at which some peer expires (for the expiry timer).
    pub(crate) fn next_expiry(
        &self,
        allowed: impl Fn(&Peer) -> core::time::Duration,
    ) -> Option<Instant> {
        self.peers
            .iter()
            .map(|p| p.last_seen + allowed(p) + core::time::Duration::from_micros(1))
            .min()
    }

    /// Ban a node: it is removed and its frames are dropped. `false` if the list is full.
    pub fn ban(&mut self, id: NodeId) -> bool {
        if let Some(i) = self.peers.iter().position(|p| p.id == id) {
            self.peers.swap_remove(i);
        }
        self.banned.contains(&id) || self.banned.push(id).is_ok()
    }

    /// Lift a ban.
    pub fn unban(&mut self, id: &NodeId) {
        self.banned.retain(|b| b != id);
    }

    /// Whether a node is banned.
    pub fn is_banned(&self, id: &NodeId) -> bool {
        self.banned.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(b: u8) -> LinkAddr {
        LinkAddr::new(&[b; 6]).unwrap()
    }

    #[test]
    fn evicts_least_recently_seen() {
        let mut t: PeerTable<2> = PeerTable::new();
        let l = LinkId(0);
        let m = RxMeta::default();
        assert_eq!(
            t.touch(Instant::from_secs(1), NodeId([1; 8]), l, addr(1), m),
            Touch::New
        );
        assert_eq!(
            t.touch(Instant::from_secs(2), NodeId([2; 8]), l, addr(2), m),
            Touch::New
        );
        assert_eq!(
            t.touch(Instant::from_secs(3), NodeId([1; 8]), l, addr(1), m),
            Touch::Known
        );
        assert_eq!(
            t.touch(Instant::from_secs(4), NodeId([3; 8]), l, addr(3), m),
            Touch::Evicted(NodeId([2; 8]))
        );
        assert!(t.get(&NodeId([1; 8])).is_some());
        assert_eq!(t.by_addr(l, &addr(3)).unwrap().id, NodeId([3; 8]));
    }

    #[test]
    fn ban_list() {
        let mut t: PeerTable<4> = PeerTable::new();
        assert!(t.ban(NodeId([7; 8])));
        let r = t.touch(
            Instant::ZERO,
            NodeId([7; 8]),
            LinkId(0),
            addr(7),
            RxMeta::default(),
        );
        assert_eq!(r, Touch::Banned);
        t.unban(&NodeId([7; 8]));
        assert!(!t.is_banned(&NodeId([7; 8])));
    }

    #[test]
    fn several_links_most_recent_first() {
        let mut t: PeerTable<4> = PeerTable::new();
        let id = NodeId([1; 8]);
        let m = RxMeta::default();
        t.touch(Instant::ZERO, id, LinkId(0), addr(1), m);
        t.touch(Instant::ZERO, id, LinkId(1), addr(9), m);
        assert_eq!(t.get(&id).unwrap().route(), Some((LinkId(1), addr(9))));
        assert_eq!(t.get(&id).unwrap().links.len(), 2);
    }

    #[test]
    fn loss_estimate_from_beacon_gaps() {
        let mut p = Peer::new(NodeId([1; 8]), Instant::ZERO);
        for s in (0..200u16).step_by(2) {
            p.beacon_seq(s);
        }
        // every other beacon missing → about 50 %
        assert!((100..=140).contains(&p.loss_256), "{}", p.loss_256);
    }
}
