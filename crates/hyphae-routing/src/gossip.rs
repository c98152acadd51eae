//! Gossip (`docs/spec/routing.md` §8): bounded flooding with a hop limit and a duplicate cache;
//! payloads too large for one frame are announced and fetched on demand; anti-entropy
//! re-announces stored messages within an airtime budget; applications subscribe to topics.

use hyphae_wire::ShortId;
use hyphae_wire::gossip::{Body, MAX_HOPS, Repr};
use sha2::{Digest, Sha256};

use crate::{Duration, Instant, NeighbourId};

/// Largest payload kept in the store (for fetches and anti-entropy).
pub const STORE_BYTES: usize = 1024;
/// Topic subscriptions.
pub const TOPICS: usize = 8;
/// Bytes an announcement costs on air (common header 2, gossip body 15).
pub const ANNOUNCE_AIR_BYTES: u32 = 17;

/// Identity of one gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Key {
    /// Origin's short id.
    pub origin: ShortId,
    /// Per-origin message id.
    pub id: u16,
}

/// Why a publish or fetch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipError {
    /// The payload exceeds [`STORE_BYTES`] (or a u16 length).
    TooLarge,
    /// A fetched payload does not match its announcement.
    Mismatch,
    /// Nothing was announced under that key.
    Unknown,
}

impl core::fmt::Display for GossipError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "payload too large",
            Self::Mismatch => "fetched payload does not match the announcement",
            Self::Unknown => "unknown gossip message",
        })
    }
}

impl core::error::Error for GossipError {}

/// What to do with a received gossip frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reception {
    /// Hand the payload to the applications subscribed to the topic.
    pub deliver: bool,
    /// Re-broadcast with this many hops left (already decremented).
    pub forward: Option<u8>,
    /// Ask this neighbour for the announced payload (unicast the announce back, hops 0).
    pub fetch: Option<NeighbourId>,
    /// The frame was a fetch request: send the payload of this key ([`Gossip::serve`]) to the
    /// requester as a transfer.
    pub serve: Option<Key>,
}

#[derive(Debug, Clone, Copy)]
struct Stored {
    key: Key,
    topic: u16,
    len: u16,
    digest: [u8; 4],
    have: bool,
    bytes: [u8; STORE_BYTES],
    until: Instant,
}

/// The gossip engine of one node: `SEEN` duplicate-cache entries, `STORE` stored messages.
#[derive(Debug, Clone)]
pub struct Gossip<const SEEN: usize, const STORE: usize> {
    origin: ShortId,
    next_id: u16,
    seen: [Option<(Key, Instant)>; SEEN],
    store: [Option<Stored>; STORE],
    topics: [Option<u16>; TOPICS],
    /// Hops a new message starts with (≤ 15).
    pub hop_limit: u8,
    /// Largest payload sent inline; larger ones are announced.
    pub inline_max: usize,
    /// Duplicate-cache and store lifetime.
    pub ttl: Duration,
    /// Anti-entropy airtime budget in bytes per minute.
    pub budget_per_min: u32,
    /// Keep inline payloads in the store (for anti-entropy); off where the store is small and
    /// reserved for announced payloads.
    pub keep_inline: bool,
    tokens: u32,
    refill_at: Instant,
    cursor: usize,
}

/// The digest an announcement carries: the first 4 bytes of SHA-256 over the payload.
pub fn digest(payload: &[u8]) -> [u8; 4] {
    let h = Sha256::digest(payload);
    [h[0], h[1], h[2], h[3]]
}

impl<const SEEN: usize, const STORE: usize> Gossip<SEEN, STORE> {
    /// An engine for the node `origin`; `inline_max` is the gossip payload that fits a frame.
    pub fn new(origin: ShortId, inline_max: usize) -> Self {
        Self {
            origin,
            next_id: 0,
            seen: [None; SEEN],
            store: [None; STORE],
            topics: [None; TOPICS],
            hop_limit: 6,
            inline_max,
            ttl: Duration::from_secs(300),
            budget_per_min: 600,
            keep_inline: true,
            tokens: 0,
            refill_at: Instant(0),
            cursor: 0,
        }
    }

    /// Subscribe to `topic` (`false` if the table is full).
    pub fn subscribe(&mut self, topic: u16) -> bool {
        if self.topics.contains(&Some(topic)) {
            return true;
        }
        match self.topics.iter_mut().find(|t| t.is_none()) {
            Some(t) => {
                *t = Some(topic);
                true
            }
            None => false,
        }
    }

    /// Stop receiving `topic`.
    pub fn unsubscribe(&mut self, topic: u16) {
        for t in self.topics.iter_mut().filter(|t| **t == Some(topic)) {
            *t = None;
        }
    }

    /// Whether `topic` is subscribed.
    pub fn subscribed(&self, topic: u16) -> bool {
        self.topics.contains(&Some(topic))
    }

    /// Publish `payload` on `topic`: returns the frame to broadcast (data if it fits
    /// `inline_max`, otherwise an announcement; the payload is then served on fetch).
    pub fn publish<'p>(
        &mut self,
        now: Instant,
        topic: u16,
        payload: &'p [u8],
    ) -> Result<Repr<'p>, GossipError> {
        let len = u16::try_from(payload.len()).map_err(|_| GossipError::TooLarge)?;
        let key = Key {
            origin: self.origin,
            id: self.next_id,
        };
        let inline = payload.len() <= self.inline_max;
        if !inline && payload.len() > STORE_BYTES {
            return Err(GossipError::TooLarge);
        }
        self.next_id = self.next_id.wrapping_add(1);
        self.mark_seen(now, key);
        let d = digest(payload);
        // An announced payload must be kept to be served; inline data only fills free room.
        if !inline || self.keep_inline {
            self.keep(now, key, topic, len, d, Some(payload), !inline);
        }
        let body = if inline {
            Body::Data(payload)
        } else {
            Body::Announce {
                length: len,
                digest: d,
            }
        };
        Ok(Repr {
            hops_left: self.hop_limit.min(MAX_HOPS),
            origin: key.origin,
            id: key.id,
            topic,
            body,
        })
    }

    /// A gossip frame from neighbour `from`. A unicast announce with hops 0 is a fetch request:
    /// answer it with [`Gossip::serve`].
    pub fn on_gossip(&mut self, now: Instant, from: NeighbourId, msg: &Repr<'_>) -> Reception {
        let key = Key {
            origin: msg.origin,
            id: msg.id,
        };
        if msg.hops_left == 0 && matches!(msg.body, Body::Announce { .. }) {
            // A fetch request (routing.md §8): answer if we hold the payload.
            return Reception {
                serve: self.serve(key).map(|_| key),
                ..Reception::default()
            };
        }
        if key.origin == self.origin || self.is_seen(now, key) {
            return Reception::default();
        }
        self.mark_seen(now, key);
        let forward = (msg.hops_left > 1).then(|| msg.hops_left - 1);
        let wanted = self.subscribed(msg.topic);
        match msg.body {
            Body::Data(p) => {
                let len = p.len() as u16;
                if self.keep_inline {
                    self.keep(now, key, msg.topic, len, digest(p), Some(p), false);
                }
                Reception {
                    deliver: wanted,
                    forward,
                    ..Reception::default()
                }
            }
            Body::Announce { length, digest } => {
                self.keep(now, key, msg.topic, length, digest, None, true);
                // Every relay fetches what fits its store, subscribed or not: nodes further
                // out fetch from it (store and forward).
                let fetch = (usize::from(length) <= STORE_BYTES && STORE > 0).then_some(from);
                Reception {
                    // Announcements flood regardless; the caller defers the relay until the
                    // payload is fetched, and delivers it only on a subscribed topic.
                    forward,
                    fetch,
                    ..Reception::default()
                }
            }
        }
    }

    /// A fetched payload for `key`: checked against its announcement and stored; then deliver
    /// it and answer fetches for it.
    pub fn on_fetched(&mut self, key: Key, payload: &[u8]) -> Result<u16, GossipError> {
        let s = self
            .store
            .iter_mut()
            .flatten()
            .find(|s| s.key == key)
            .ok_or(GossipError::Unknown)?;
        if usize::from(s.len) != payload.len()
            || s.digest != digest(payload)
            || payload.len() > STORE_BYTES
        {
            return Err(GossipError::Mismatch);
        }
        s.bytes[..payload.len()].copy_from_slice(payload);
        s.have = true;
        Ok(s.topic)
    }

    /// The stored payload of `key`, to answer a fetch.
    pub fn serve(&self, key: Key) -> Option<&[u8]> {
        self.store
            .iter()
            .flatten()
            .find(|s| s.key == key && s.have)
            .map(|s| &s.bytes[..usize::from(s.len)])
    }

    /// Anti-entropy: the next stored message to re-announce to the neighbours (hops 1), if
    /// the airtime budget allows; call about once a second.
    pub fn poll_anti_entropy(&mut self, now: Instant) -> Option<Repr<'static>> {
        if now >= self.refill_at {
            self.tokens = self.budget_per_min;
            self.refill_at = now.add(Duration::from_secs(60));
        }
        if self.tokens < ANNOUNCE_AIR_BYTES {
            return None;
        }
        for step in 0..STORE {
            let i = (self.cursor + step) % STORE;
            let Some(s) = self.store[i].filter(|s| s.have && now < s.until) else {
                continue;
            };
            self.cursor = i + 1;
            self.tokens -= ANNOUNCE_AIR_BYTES;
            return Some(Repr {
                hops_left: 1,
                origin: s.key.origin,
                id: s.key.id,
                topic: s.topic,
                body: Body::Announce {
                    length: s.len,
                    digest: s.digest,
                },
            });
        }
        None
    }

    /// Whether message `key` is in the duplicate cache (seen, not expired).
    pub fn is_seen(&self, now: Instant, key: Key) -> bool {
        self.seen
            .iter()
            .flatten()
            .any(|&(k, until)| k == key && now < until)
    }

    fn mark_seen(&mut self, now: Instant, key: Key) {
        let until = now.add(self.ttl);
        let i = oldest(&self.seen.map(|e| e.map(|(_, u)| u)), now);
        if let Some(e) = self.seen.get_mut(i) {
            *e = Some((key, until));
        }
    }

    /// Store a message; `evict`: it may replace the slot expiring first (announced payloads),
    /// else it takes only a free or expired slot (inline data, which needs no serving).
    #[allow(clippy::too_many_arguments)]
    fn keep(
        &mut self,
        now: Instant,
        key: Key,
        topic: u16,
        len: u16,
        d: [u8; 4],
        p: Option<&[u8]>,
        evict: bool,
    ) {
        let i = oldest(&self.store.map(|e| e.map(|s| s.until)), now);
        if !evict
            && self
                .store
                .get(i)
                .is_some_and(|s| s.is_some_and(|s| now < s.until))
        {
            return;
        }
        let Some(slot) = self.store.get_mut(i) else {
            return;
        };
        let mut s = Stored {
            key,
            topic,
            len,
            digest: d,
            have: false,
            bytes: [0; STORE_BYTES],
            until: now.add(self.ttl),
        };
        if let Some(p) = p.filter(|p| p.len() <= STORE_BYTES) {
            s.bytes[..p.len()].copy_from_slice(p);
            s.have = true;
        }
        *slot = Some(s);
    }
}

/// Index of a free or expired slot, else the one expiring first.
fn oldest<const M: usize>(until: &[Option<Instant>; M], now: Instant) -> usize {
    until
        .iter()
        .position(|u| u.is_none_or(|u| now >= u))
        .unwrap_or_else(|| {
            (0..M)
                .min_by_key(|&i| until[i].unwrap_or(Instant(0)))
                .unwrap_or(0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ShortId = ShortId([1, 1, 1, 1]);
    const B: ShortId = ShortId([2, 2, 2, 2]);
    const NB: NeighbourId = NeighbourId(3);

    #[test]
    fn floods_once_with_hop_limit() {
        let mut a: Gossip<8, 4> = Gossip::new(A, 100);
        let mut b: Gossip<8, 4> = Gossip::new(B, 100);
        b.subscribe(7);
        let m = a.publish(Instant(0), 7, b"hi").unwrap();
        assert_eq!(m.hops_left, 6);
        let r = b.on_gossip(Instant(1), NB, &m);
        assert_eq!(
            r,
            Reception {
                deliver: true,
                forward: Some(5),
                ..Reception::default()
            }
        );
        // duplicate suppressed
        assert_eq!(b.on_gossip(Instant(2), NB, &m), Reception::default());
        // our own message coming back is ignored
        assert_eq!(a.on_gossip(Instant(2), NB, &m), Reception::default());
        // last hop: deliver, do not forward
        let mut last = m;
        last.id = 99;
        last.hops_left = 1;
        assert_eq!(b.on_gossip(Instant(3), NB, &last).forward, None);
    }

    #[test]
    fn announce_and_fetch() {
        let big = [0x5a; 300];
        let mut a: Gossip<8, 4> = Gossip::new(A, 100);
        let mut b: Gossip<8, 4> = Gossip::new(B, 100);
        b.subscribe(9);
        let m = a.publish(Instant(0), 9, &big).unwrap();
        assert!(matches!(m.body, Body::Announce { length: 300, .. }));
        let r = b.on_gossip(Instant(1), NB, &m);
        assert_eq!(r.fetch, Some(NB));
        assert!(!r.deliver);
        let key = Key { origin: A, id: 0 };
        // B sends the announce back with 0 hops: a fetch request, which A answers
        let mut request = m;
        request.hops_left = 0;
        assert_eq!(a.on_gossip(Instant(2), NB, &request).serve, Some(key));
        assert_eq!(b.on_gossip(Instant(2), NB, &request).serve, None);
        let served = a.serve(key).unwrap();
        assert_eq!(
            b.on_fetched(key, &served[..299]),
            Err(GossipError::Mismatch)
        );
        assert_eq!(b.on_fetched(key, served), Ok(9));
        assert_eq!(b.serve(key), Some(&big[..]));
        assert_eq!(
            b.on_fetched(Key { origin: B, id: 5 }, &big),
            Err(GossipError::Unknown)
        );
        assert_eq!(
            a.publish(Instant(0), 9, &[0; 2000]),
            Err(GossipError::TooLarge)
        );
    }

    #[test]
    fn anti_entropy_respects_budget() {
        let mut a: Gossip<8, 4> = Gossip::new(A, 100);
        a.budget_per_min = 2 * ANNOUNCE_AIR_BYTES;
        a.publish(Instant(0), 1, b"x").unwrap();
        a.publish(Instant(0), 1, b"y").unwrap();
        assert!(a.poll_anti_entropy(Instant(1)).is_some());
        assert!(a.poll_anti_entropy(Instant(2)).is_some());
        assert!(a.poll_anti_entropy(Instant(3)).is_none());
        assert!(a.poll_anti_entropy(Instant(61_000_001)).is_some());
        assert!(a.subscribe(1) && a.subscribed(1));
        a.unsubscribe(1);
        assert!(!a.subscribed(1));
    }
}
