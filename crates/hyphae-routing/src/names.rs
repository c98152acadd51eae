//! Name resolution cache: node id → coordinates per tree, bounded, with expiry
//! (`docs/spec/routing.md` §7). Entries are learned from gossip announcements and routed traffic.

use hyphae_wire::{Address, Coords, NodeId};

use crate::{Duration, Instant};

/// One cached node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<const K: usize> {
    /// The node.
    pub node: NodeId,
    /// Its coordinates per tree (`None` where unknown).
    pub coords: [Option<Coords>; K],
    /// When the entry lapses.
    pub until: Instant,
}

/// `M` entries at most; when full, the entry that expires first is replaced.
#[derive(Debug, Clone)]
pub struct NameCache<const K: usize, const M: usize> {
    entries: [Option<Entry<K>>; M],
    /// Lifetime of a learned entry.
    pub ttl: Duration,
}

impl<const K: usize, const M: usize> Default for NameCache<K, M> {
    fn default() -> Self {
        Self::new(Duration::from_secs(300))
    }
}

impl<const K: usize, const M: usize> NameCache<K, M> {
    /// An empty cache whose entries live `ttl`.
    pub const fn new(ttl: Duration) -> Self {
        Self {
            entries: [None; M],
            ttl,
        }
    }

    /// Learn that `node` sits at `coords` in tree `tree`.
    pub fn learn(&mut self, now: Instant, node: NodeId, tree: usize, coords: Coords) {
        if tree >= K {
            return;
        }
        let until = now.add(self.ttl);
        let i = self
            .position(now, node)
            .or_else(|| {
                self.entries
                    .iter()
                    .position(|e| e.is_none_or(|e| now >= e.until))
            })
            .unwrap_or_else(|| {
                (0..M)
                    .min_by_key(|&i| self.entries[i].map_or(Instant(0), |e| e.until))
                    .unwrap_or(0)
            });
        let Some(slot) = self.entries.get_mut(i) else {
            return;
        };
        let mut e = match slot {
            Some(e) if e.node == node => *e,
            _ => Entry {
                node,
                coords: [None; K],
                until,
            },
        };
        e.coords[tree] = Some(coords);
        e.until = until;
        *slot = Some(e);
    }

    /// The coordinates of `node` per tree, if cached and fresh.
    pub fn resolve(&self, now: Instant, node: NodeId) -> Option<[Option<Coords>; K]> {
        self.position(now, node)
            .and_then(|i| self.entries[i])
            .map(|e| e.coords)
    }

    /// The node whose coordinates in `tree` are `coords` (to add the other trees to a frame
    /// that names only one).
    pub fn by_coords(&self, now: Instant, tree: usize, coords: &Coords) -> Option<Entry<K>> {
        self.entries
            .iter()
            .flatten()
            .find(|e| now < e.until && e.coords.get(tree).copied().flatten() == Some(*coords))
            .copied()
    }

    /// Forget `node`.
    pub fn forget(&mut self, node: NodeId) {
        for e in self.entries.iter_mut() {
            if e.is_some_and(|e| e.node == node) {
                *e = None;
            }
        }
    }

    /// Fresh entries.
    pub fn len(&self, now: Instant) -> usize {
        self.entries
            .iter()
            .flatten()
            .filter(|e| now < e.until)
            .count()
    }

    /// Bytes of the fresh entries in their compact encoding (node id plus, per known tree,
    /// the tree index and the coordinate address).
    pub fn state_bytes(&self, now: Instant) -> usize {
        self.entries
            .iter()
            .flatten()
            .filter(|e| now < e.until)
            .map(|e| {
                8 + e
                    .coords
                    .iter()
                    .flatten()
                    .map(|c| 1 + Address::Coords(*c).buffer_len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// No fresh entries.
    pub fn is_empty(&self, now: Instant) -> bool {
        self.len(now) == 0
    }

    fn position(&self, now: Instant, node: NodeId) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.is_some_and(|e| e.node == node && now < e.until))
    }
}

/// Encode a position announcement (the gossip payload that feeds name caches,
/// `routing.md` §7): `node id (8) | count u8 | count × (tree u8 | address)`. Returns the bytes
/// written, or `None` if `buf` is too small.
pub fn encode_position(node: NodeId, coords: &[Option<Coords>], buf: &mut [u8]) -> Option<usize> {
    let (id, rest) = buf.split_at_mut_checked(8)?;
    id.copy_from_slice(&node.0);
    let (count, mut rest) = rest.split_first_mut()?;
    let mut n = 0u8;
    let mut used = 9;
    for (t, c) in coords.iter().enumerate().take(8) {
        let Some(c) = c else { continue };
        let (tree, tail) = rest.split_first_mut()?;
        *tree = t as u8;
        let len = Address::Coords(*c).emit(tail).ok()?;
        rest = &mut tail[len..];
        used += 1 + len;
        n += 1;
    }
    *count = n;
    Some(used)
}

/// Decode a position announcement; `None` if malformed (any byte string is safe to pass).
pub fn decode_position<const K: usize>(buf: &[u8]) -> Option<(NodeId, [Option<Coords>; K])> {
    let (id, rest) = buf.split_at_checked(8)?;
    let node = NodeId(id.try_into().ok()?);
    let (&count, mut rest) = rest.split_first()?;
    let mut out = [None; K];
    for _ in 0..count {
        let (&tree, tail) = rest.split_first()?;
        let (addr, len) = Address::parse(tail).ok()?;
        let Address::Coords(c) = addr else {
            return None;
        };
        if let Some(slot) = out.get_mut(usize::from(tree)) {
            *slot = Some(c);
        }
        rest = &tail[len..];
    }
    rest.is_empty().then_some((node, out))
}

impl<const K: usize, const M: usize> NameCache<K, M> {
    /// Learn every tree of a decoded position announcement.
    pub fn learn_all(&mut self, now: Instant, node: NodeId, coords: &[Option<Coords>; K]) {
        for (t, c) in coords.iter().enumerate() {
            if let Some(c) = c {
                self.learn(now, node, t, *c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn position_round_trip() {
        let coords = [
            Some(Coords::new(&[1, 20, 3]).unwrap()),
            None,
            Some(Coords::ROOT),
        ];
        let mut buf = [0; 64];
        let n = encode_position(id(4), &coords, &mut buf).unwrap();
        assert_eq!(n, 8 + 1 + (1 + 4) + (1 + 1));
        let (node, back) = decode_position::<3>(&buf[..n]).unwrap();
        assert_eq!((node, back), (id(4), coords));
        assert!(decode_position::<3>(&buf[..n - 1]).is_none());
        assert!(encode_position(id(4), &coords, &mut buf[..10]).is_none());
        let mut c: NameCache<3, 4> = NameCache::default();
        c.learn_all(Instant(0), node, &back);
        assert_eq!(c.resolve(Instant(0), id(4)), Some(coords));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode_position::<3>(&bytes);
        }
    }

    fn id(i: u8) -> NodeId {
        NodeId([i; 8])
    }

    #[test]
    fn learn_resolve_expire_evict() {
        let mut c: NameCache<3, 2> = NameCache::new(Duration::from_secs(10));
        let a = Coords::new(&[1, 2]).unwrap();
        c.learn(Instant(0), id(1), 0, a);
        c.learn(Instant(0), id(1), 2, Coords::ROOT);
        assert_eq!(
            c.resolve(Instant(1), id(1)),
            Some([Some(a), None, Some(Coords::ROOT)])
        );
        assert_eq!(c.by_coords(Instant(1), 0, &a).map(|e| e.node), Some(id(1)));
        c.learn(Instant(1_000_000), id(2), 0, a);
        c.learn(Instant(2_000_000), id(3), 0, a);
        // full: id(1) expired first and was replaced
        assert_eq!(c.resolve(Instant(2_000_000), id(1)), None);
        assert_eq!(c.len(Instant(2_000_000)), 2);
        assert!(c.resolve(Instant(20_000_000), id(3)).is_none());
        c.forget(id(2));
        assert!(c.resolve(Instant(2_000_000), id(2)).is_none());
        c.learn(Instant(0), id(9), 7, a); // tree out of range: ignored
        assert!(c.resolve(Instant(0), id(9)).is_none());
    }
}
