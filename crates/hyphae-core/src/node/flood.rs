//! Managed flooding (Meshtastic-style), the baseline the simulator compares tree routing with
//! (`docs/spec/routing.md` §13.3).
//!
//! A frame to a node that is not a neighbour is broadcast with a routing header: node-id
//! addresses both ways, the flood hop limit, and in the epoch field the origin's **flood
//! sequence** (a counter per transmission, so a retransmission is a new flood). Every node
//! handles each (source, sequence) once (bounded duplicate cache): the destination processes
//! it, any other node schedules one rebroadcast with the hop limit decremented after a random
//! contention delay — shorter when the frame arrived weaker (RSSI/SNR, where the link reports
//! them), so distant nodes relay first — and cancels it if it hears another node rebroadcast
//! the same frame before its timer fires.

use core::cell::Cell;

use hyphae_link::{LinkAddr, RxMeta};
use hyphae_wire::frame::Frame;
use hyphae_wire::{Address, NodeId, RoutingRepr};

use super::Node;
use super::route::{NODE_HEADER_LEN, Route, Via};
use super::routing::{Inbound, RoutingState};
use crate::config::Routing;
use crate::event::DropReason;
use crate::links::LinkId;
use crate::time::Instant;

/// (source, sequence) pairs remembered for duplicate suppression.
pub const FLOOD_SEEN: usize = 64;
/// Rebroadcasts waiting for their contention delay.
pub const FLOOD_PENDING: usize = 8;
/// How long a (source, sequence) pair is remembered.
const SEEN_HOLD: core::time::Duration = core::time::Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
struct Pending<const M: usize> {
    src: NodeId,
    seq: u16,
    at: Instant,
    len: usize,
    bytes: [u8; M],
}

/// The flooding state of one node.
pub(crate) struct FloodState<const M: usize> {
    seq: Cell<u16>,
    seen: [Option<(NodeId, u16, Instant)>; FLOOD_SEEN],
    cursor: usize,
    pending: heapless::Vec<Pending<M>, FLOOD_PENDING>,
}

impl<const M: usize> FloodState<M> {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seq: Cell::new(seed as u16),
            seen: [None; FLOOD_SEEN],
            cursor: 0,
            pending: heapless::Vec::new(),
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.at).min()
    }

    pub(crate) fn state_bytes(&self, now: Instant) -> usize {
        let seen = self.seen.iter().flatten().filter(|e| e.2 > now).count();
        seen * 10 + self.pending.iter().map(|p| p.len).sum::<usize>()
    }

    fn is_seen(&self, now: Instant, src: &NodeId, seq: u16) -> bool {
        self.seen
            .iter()
            .flatten()
            .any(|(s, q, until)| s == src && *q == seq && *until > now)
    }

    /// Remember (src, seq); the ring overwrites the oldest entry.
    fn mark(&mut self, now: Instant, src: NodeId, seq: u16) {
        self.seen[self.cursor] = Some((src, seq, now + SEEN_HOLD));
        self.cursor = (self.cursor + 1) % FLOOD_SEEN;
    }
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// The next flood sequence number (one per frame this node originates).
    pub(super) fn next_flood_seq(&self) -> u16 {
        match &self.rt {
            RoutingState::Flood(f) => {
                let s = f.seq.get();
                f.seq.set(s.wrapping_add(1));
                s
            }
            _ => 0,
        }
    }

    /// The flood "route": broadcast on the first broadcast link that is up.
    pub(super) fn flood_route(&self) -> Option<Route> {
        let n = (0..self.links.len()).find(|&n| self.links[n].info.broadcast && self.link_up[n])?;
        Some(Route {
            link: LinkId(n as u8),
            to: LinkAddr::BROADCAST,
            header_len: NODE_HEADER_LEN,
            via: Via::Flood,
        })
    }

    /// A routed frame in flood mode.
    pub(super) fn flood_in(
        &mut self,
        now: Instant,
        bytes: &[u8],
        frame: &Frame<'_>,
        r: &RoutingRepr,
        _from: NodeId,
        meta: RxMeta,
    ) -> Inbound {
        let Address::Node(src) = r.src else {
            self.counters.drop(DropReason::Unsupported);
            return Inbound::Done;
        };
        let contention = match self.config.routing {
            Routing::Flood { contention, .. } => contention,
            _ => core::time::Duration::ZERO,
        };
        let for_us = match r.dst {
            Address::Node(d) => d == self.id,
            Address::Short(s) => s == self.id.short(),
            Address::Coords(_) => false,
        };
        if src == self.id {
            return Inbound::Done;
        }
        let seq = r.epoch;
        let delay = self.contention_delay(contention, meta);
        let RoutingState::Flood(f) = &mut self.rt else {
            return Inbound::Pass;
        };
        if f.is_seen(now, &src, seq) {
            self.rstats.flood_duplicates += 1;
            if let Some(i) = f.pending.iter().position(|p| p.src == src && p.seq == seq) {
                // Someone else rebroadcast it first: ours is not needed.
                f.pending.swap_remove(i);
                self.rstats.flood_cancelled += 1;
            }
            return Inbound::Done;
        }
        f.mark(now, src, seq);
        if for_us {
            return Inbound::Local(src);
        }
        if r.hop_limit <= 1 {
            self.rstats.hop_limit_drops += 1;
            self.counters.drop(DropReason::HopLimit);
            return Inbound::Done;
        }
        if f.pending.is_full() || bytes.len() > M {
            self.rstats.flood_overflow += 1;
            self.counters.drop(DropReason::QueueFull);
            return Inbound::Done;
        }
        let mut p = Pending {
            src,
            seq,
            at: now + delay,
            len: bytes.len(),
            bytes: [0; M],
        };
        p.bytes[..bytes.len()].copy_from_slice(bytes);
        // The routing header follows the common header and the security header, if any.
        let off = hyphae_wire::header::HEADER_LEN
            + frame
                .security
                .map_or(0, |_| hyphae_wire::security::HEADER_LEN);
        let mut rp = hyphae_wire::RoutingPacket::new_unchecked(&mut p.bytes[off..]);
        rp.set_hop_limit(r.hop_limit - 1);
        let _ = f.pending.push(p);
        Inbound::Done
    }

    /// Send the rebroadcasts whose contention delay ended.
    pub(super) fn flood_tick(&mut self, now: Instant) {
        loop {
            let RoutingState::Flood(f) = &mut self.rt else {
                return;
            };
            let Some(i) = f.pending.iter().position(|p| p.at <= now) else {
                return;
            };
            let p = f.pending.swap_remove(i);
            if self.push_broadcast(&p.bytes[..p.len], false) {
                self.counters.forwarded += 1;
                self.rstats.flood_rebroadcasts += 1;
            } else {
                self.rstats.flood_overflow += 1;
            }
        }
    }

    /// Random delay in `0..window`, scaled by link strength where the link reports it: the
    /// weaker the reception, the earlier the rebroadcast.
    fn contention_delay(
        &mut self,
        window: core::time::Duration,
        meta: RxMeta,
    ) -> core::time::Duration {
        let w = window.as_micros() as u64;
        if w == 0 {
            return core::time::Duration::ZERO;
        }
        // Strength 0..=256: RSSI −100..−30 dBm, or SNR −20..+10 dB.
        let strength = match (meta.rssi, meta.snr) {
            (Some(rssi), _) => Some((i64::from(rssi) + 100).clamp(0, 70) * 256 / 70),
            (None, Some(snr)) => Some((i64::from(snr) + 20).clamp(0, 30) * 256 / 30),
            (None, None) => None,
        };
        let us = match strength {
            // Half the window set by strength, half random (ties between equal links).
            Some(s) => (w / 2) * s as u64 / 256 + self.rng.below(w / 2 + 1),
            None => self.rng.below(w + 1),
        };
        core::time::Duration::from_micros(us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::node::SimNode;
    use core::time::Duration;

    #[test]
    fn duplicate_cache_remembers_and_forgets() {
        let mut f: FloodState<250> = FloodState::new(7);
        let a = NodeId([1; 8]);
        let t0 = Instant::from_secs(1);
        assert!(!f.is_seen(t0, &a, 5));
        f.mark(t0, a, 5);
        assert!(f.is_seen(t0, &a, 5));
        assert!(!f.is_seen(t0, &a, 6));
        assert!(!f.is_seen(t0 + SEEN_HOLD, &a, 5));
        // The ring overwrites the oldest entry.
        for i in 0..FLOOD_SEEN as u16 {
            f.mark(t0, NodeId([2; 8]), i);
        }
        assert!(!f.is_seen(t0, &a, 5));
        assert!(f.state_bytes(t0) == FLOOD_SEEN * 10);
    }

    #[test]
    fn weaker_links_rebroadcast_earlier() {
        let config = Config {
            routing: Routing::FLOOD,
            insecure: true,
            ..Config::default()
        };
        let mut n = SimNode::new(config, NodeId([3; 8]), 1);
        let w = Duration::from_millis(20);
        let strong = RxMeta {
            rssi: Some(-30),
            snr: None,
        };
        let weak = RxMeta {
            rssi: Some(-100),
            snr: None,
        };
        for _ in 0..100 {
            let s = n.contention_delay(w, strong);
            let k = n.contention_delay(w, weak);
            assert!(s >= w / 2 && s <= w, "{s:?}");
            assert!(k <= w / 2, "{k:?}");
            assert!(n.contention_delay(w, RxMeta::default()) <= w);
        }
        assert_eq!(n.contention_delay(Duration::ZERO, weak), Duration::ZERO);
    }
}
