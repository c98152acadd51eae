//! Service registry (`docs/spec/routing.md` §9): providers announce their services in `Service`
//! frames carried by gossip; every node keeps a bounded registry with expiry and finds the
//! nearest provider of a service by tree distance (minimum over the trees).

use hyphae_wire::service::Repr;
use hyphae_wire::{AppId, Coords, NodeId};

use crate::metric::tree_distance;
use crate::names::NameCache;
use crate::{Duration, Instant};

/// Longest service name.
pub const NAME_MAX: usize = 32;

/// One known provider of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The provider.
    pub provider: NodeId,
    /// Application serving it.
    pub app: AppId,
    name: [u8; NAME_MAX],
    name_len: u8,
    /// Provider's announcement sequence.
    pub seq: u16,
    /// When it lapses.
    pub until: Instant,
}

impl Record {
    /// The service name.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..usize::from(self.name_len)]).unwrap_or("")
    }
}

/// Registry of `S` records.
#[derive(Debug, Clone)]
pub struct Services<const S: usize> {
    records: [Option<Record>; S],
}

impl<const S: usize> Default for Services<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const S: usize> Services<S> {
    /// An empty registry.
    pub const fn new() -> Self {
        Self { records: [None; S] }
    }

    /// An announcement heard: replaces the provider's older records; an announcement with an
    /// older sequence than what is held is ignored. Returns the records added.
    pub fn on_announcement(&mut self, now: Instant, a: &Repr<'_>) -> usize {
        let held = self
            .records
            .iter()
            .flatten()
            .filter(|r| r.provider == a.provider && now < r.until)
            .map(|r| r.seq)
            .next();
        if held.is_some_and(|s| s != a.seq && !crate::epoch_newer(a.seq, s)) {
            return 0;
        }
        for r in self.records.iter_mut() {
            if r.is_some_and(|r| r.provider == a.provider) {
                *r = None;
            }
        }
        let until = now.add(Duration::from_secs(u64::from(a.ttl) * 10));
        let mut added = 0;
        for e in a.entries() {
            let mut name = [0; NAME_MAX];
            let n = e.name.len().min(NAME_MAX);
            name[..n].copy_from_slice(&e.name.as_bytes()[..n]);
            let rec = Record {
                provider: a.provider,
                app: e.app,
                name,
                name_len: n as u8,
                seq: a.seq,
                until,
            };
            let i = self
                .records
                .iter()
                .position(|r| r.is_none_or(|r| now >= r.until))
                .or_else(|| {
                    (0..S).min_by_key(|&i| self.records[i].map_or(Instant(0), |r| r.until))
                });
            if let Some(slot) = i.and_then(|i| self.records.get_mut(i)) {
                *slot = Some(rec);
                added += 1;
            }
        }
        added
    }

    /// Live providers of `name`.
    pub fn providers<'a>(
        &'a self,
        now: Instant,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Record> + 'a {
        self.records
            .iter()
            .flatten()
            .filter(move |r| now < r.until && r.name() == name)
    }

    /// The provider of `name` nearest to `own` (this node's coordinates per tree), by tree
    /// distance minimised over the trees where both positions are known (coordinates from the
    /// name cache). Providers without known coordinates rank last. Returns the record and
    /// the distance (`u32::MAX` if unknown).
    pub fn nearest<const K: usize, const M: usize>(
        &self,
        now: Instant,
        name: &str,
        own: &[Option<Coords>; K],
        names: &NameCache<K, M>,
    ) -> Option<(Record, u32)> {
        self.providers(now, name)
            .map(|r| {
                let d = names.resolve(now, r.provider).map_or(u32::MAX, |theirs| {
                    (0..K)
                        .filter_map(|t| Some(tree_distance(&own[t]?, &theirs[t]?)))
                        .min()
                        .unwrap_or(u32::MAX)
                });
                (*r, d)
            })
            .min_by_key(|&(r, d)| (d, r.provider))
    }

    /// Records not expired at `now`.
    pub fn live(&self, now: Instant) -> usize {
        self.records
            .iter()
            .flatten()
            .filter(|r| now < r.until)
            .count()
    }

    /// Drop a provider (e.g. after an unreachable notice).
    pub fn forget(&mut self, provider: NodeId) {
        for r in self.records.iter_mut() {
            if r.is_some_and(|r| r.provider == provider) {
                *r = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyphae_wire::service::Entry;

    fn announce<'a>(p: u8, seq: u16, name: &'a str) -> Repr<'a> {
        let mut a = Repr::new(NodeId([p; 8]), seq, 6);
        a.push(Entry {
            app: AppId(0x1234),
            name,
        })
        .unwrap();
        a
    }

    #[test]
    fn nearest_provider_and_expiry() {
        let mut s: Services<4> = Services::new();
        let mut names: NameCache<2, 8> = NameCache::default();
        let now = Instant(0);
        assert_eq!(s.on_announcement(now, &announce(1, 1, "mqtt")), 1);
        assert_eq!(s.on_announcement(now, &announce(2, 1, "mqtt")), 1);
        assert_eq!(s.on_announcement(now, &announce(3, 1, "ota")), 1);
        names.learn(now, NodeId([1; 8]), 0, Coords::new(&[1, 2, 3]).unwrap());
        names.learn(now, NodeId([2; 8]), 1, Coords::new(&[4]).unwrap());
        let own = [
            Some(Coords::new(&[1, 2]).unwrap()),
            Some(Coords::new(&[5, 5, 5]).unwrap()),
        ];
        let (r, d) = s.nearest(now, "mqtt", &own, &names).unwrap();
        assert_eq!((r.provider, d), (NodeId([1; 8]), 1));
        assert_eq!(r.name(), "mqtt");
        // an older sequence is ignored, a newer one replaces
        assert_eq!(s.on_announcement(now, &announce(1, 0, "mqtt")), 0);
        assert_eq!(s.on_announcement(now, &announce(1, 2, "mqtt2")), 1);
        assert_eq!(
            s.nearest(now, "mqtt", &own, &names).unwrap().0.provider,
            NodeId([2; 8])
        );
        // expiry after ttl (6 × 10 s)
        assert!(
            s.nearest(Instant(61_000_000), "mqtt", &own, &names)
                .is_none()
        );
        s.forget(NodeId([3; 8]));
        assert_eq!(s.providers(now, "ota").count(), 0);
    }
}
