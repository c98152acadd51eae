//! Name resolution cache: node id → coordinates per tree, bounded, with expiry
//! (`docs/spec/routing.md` §7). Entries are learned from gossip announcements and routed traffic.

use hyphae_wire::{Coords, NodeId};

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

#[cfg(test)]
mod tests {
    use super::*;

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
