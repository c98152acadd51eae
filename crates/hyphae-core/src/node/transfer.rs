//! Per-transfer state of the sequencer: the sender's sliding window with selective
//! acknowledgements, RTT estimation and back-off, and the receiver's reassembly window.

use core::time::Duration;

use hyphae_wire::{AppId, NodeId};

use crate::arena::Region;
use crate::event::SendId;
use crate::time::Instant;

/// Most fragments in flight per outbound transfer.
pub const MAX_WINDOW: usize = 64;
/// Receive window tracked per inbound transfer, in fragments beyond the base.
pub(crate) const RECV_WINDOW: u32 = 256;
/// Fragments resent as probes when the retransmission timer fires.
pub(crate) const RTO_PROBES: usize = 2;
/// Largest RTO back-off exponent.
pub(crate) const MAX_BACKOFF_SHIFT: u32 = 6;
/// Consecutive timeouts during which the back-off stays at ×4.
pub(crate) const BACKOFF_PLATEAU: u32 = 4;
/// Later fragments acknowledged before an earlier one counts as lost regardless of time.
pub(crate) const REORDER_FRAGMENTS: u32 = 3;
/// Largest fragment count per transfer (the Ack base field is 16 bits).
pub(crate) const MAX_FRAGMENTS: u32 = 65_535;

/// What an outbound transfer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// No route yet; fails `Unreachable` after `route_wait`.
    WaitRoute,
    /// Waking a sleepy destination with request-node-status.
    Waking { attempts: u8, next_probe: Instant },
    /// Sending.
    Active,
}

/// A blob being sent.
#[derive(Debug, Clone)]
pub(crate) struct OutTransfer {
    pub(crate) send: SendId,
    pub(crate) app: AppId,
    /// `None` for a broadcast.
    pub(crate) dest: Option<NodeId>,
    pub(crate) id: u16,
    /// Package header followed by the payload.
    pub(crate) region: Region,
    pub(crate) state: OutState,
    pub(crate) created: Instant,
    pub(crate) last_progress: Instant,
    /// Sent as one Single frame (payload only), decided at activation.
    pub(crate) single: bool,
    pub(crate) count: u32,
    pub(crate) frag_len: u16,
    /// Every fragment below `base` is acknowledged.
    pub(crate) base: u32,
    /// Next fragment never sent.
    pub(crate) next_new: u32,
    /// Bits relative to `base`.
    pub(crate) acked: u64,
    pub(crate) lost: u64,
    /// Fragments whose last transmission requested an acknowledgement.
    pub(crate) asked: u64,
    pub(crate) sent_at: [Instant; MAX_WINDOW],
    pub(crate) tx_count: [u8; MAX_WINDOW],
    pub(crate) srtt_us: u64,
    pub(crate) rttvar_us: u64,
    pub(crate) rto: Duration,
    pub(crate) backoff: u32,
    /// The retransmission timer runs from the later of this and the oldest outstanding send:
    /// it restarts on acknowledged progress and when it fires (TCP's rule).
    pub(crate) rto_from: Instant,
    /// A throttle signal halved the window; no growth (nor another halving) until then.
    pub(crate) throttled_until: Instant,
    /// When a fragment was last sent again (RTT samples older than this are ambiguous).
    pub(crate) last_rtx: Option<Instant>,
    pub(crate) cwnd: u16,
    /// Receiver's advertised window.
    pub(crate) peer_window: u16,
    /// Broadcast progress: fragments × repeats × links emitted.
    pub(crate) bcast_pos: u32,
    /// The content still needs its end-to-end envelope (sealed at activation, `node/e2e.rs`).
    pub(crate) seal_e2e: bool,
    /// The content is an end-to-end envelope (sealed now or once the session is up).
    pub(crate) e2e: bool,
    /// Times sent again under a new end-to-end session (`e2e.rs`, `e2e_retry`).
    pub(crate) e2e_retries: u8,
    /// Estimated hops to the destination when the route was found (1: a neighbour).
    pub(crate) hops: u8,
}

impl OutTransfer {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        send: SendId,
        app: AppId,
        dest: Option<NodeId>,
        id: u16,
        region: Region,
        now: Instant,
        rto: Duration,
        cwnd: u16,
    ) -> Self {
        Self {
            send,
            app,
            dest,
            id,
            region,
            state: OutState::WaitRoute,
            created: now,
            last_progress: now,
            single: false,
            count: 0,
            frag_len: 0,
            base: 0,
            next_new: 0,
            acked: 0,
            lost: 0,
            asked: 0,
            sent_at: [Instant::ZERO; MAX_WINDOW],
            tx_count: [0; MAX_WINDOW],
            srtt_us: 0,
            rttvar_us: 0,
            rto,
            backoff: 0,
            rto_from: now,
            throttled_until: Instant::ZERO,
            last_rtx: None,
            cwnd,
            peer_window: MAX_WINDOW as u16,
            bcast_pos: 0,
            seal_e2e: false,
            e2e: false,
            e2e_retries: 0,
            hops: 1,
        }
    }

    fn bit(index: u32, base: u32) -> Option<u64> {
        let off = index.checked_sub(base)?;
        (off < MAX_WINDOW as u32).then(|| 1u64 << off)
    }

    /// Whether every fragment is acknowledged.
    pub(crate) fn complete(&self) -> bool {
        self.count > 0 && self.base >= self.count
    }

    /// Fragments sent and neither acknowledged nor marked lost.
    pub(crate) fn outstanding(&self) -> impl Iterator<Item = u32> + '_ {
        (self.base..self.next_new).filter(move |&i| {
            Self::bit(i, self.base).is_some_and(|b| self.acked & b == 0 && self.lost & b == 0)
        })
    }

    /// The next fragment to send: the lowest lost one, else a new one inside the window.
    pub(crate) fn next_fragment(&self) -> Option<u32> {
        if self.lost != 0 {
            return Some(self.base + self.lost.trailing_zeros());
        }
        // The congestion window counts fragments in flight (sent, neither acknowledged nor
        // lost), so holes being repaired do not stall new data; the span beyond `base` is
        // bounded by the receiver's window and the 64 fragments the bitmaps track.
        let new_ok = self.next_new < self.count
            && self.next_new < self.base + self.span_limit()
            && self.in_flight() < u32::from(self.cwnd.max(1));
        new_ok.then_some(self.next_new)
    }

    /// Fragments beyond `base` that may have been sent at all.
    pub(crate) fn span_limit(&self) -> u32 {
        u32::from(self.peer_window.max(1)).min(MAX_WINDOW as u32)
    }

    /// Fragments sent and neither acknowledged nor marked lost.
    pub(crate) fn in_flight(&self) -> u32 {
        let span = self
            .next_new
            .saturating_sub(self.base)
            .min(MAX_WINDOW as u32);
        let mask = if span >= 64 {
            u64::MAX
        } else {
            (1u64 << span) - 1
        };
        (mask & !self.acked & !self.lost).count_ones()
    }

    /// Record that fragment `index` was sent at `now`.
    pub(crate) fn on_sent(&mut self, index: u32, now: Instant, ask: bool) -> bool {
        let Some(b) = Self::bit(index, self.base) else {
            return false;
        };
        if ask {
            self.asked |= b;
        } else {
            self.asked &= !b;
        }
        let slot = (index % MAX_WINDOW as u32) as usize;
        let retransmission = self.lost & b != 0 || index < self.next_new;
        self.lost &= !b;
        self.sent_at[slot] = now;
        if retransmission {
            self.last_rtx = Some(now);
        }
        self.tx_count[slot] = if retransmission {
            self.tx_count[slot].saturating_add(1)
        } else {
            1
        };
        if index >= self.next_new {
            self.next_new = index + 1;
        }
        retransmission
    }

    /// Apply an acknowledgement: `base` and a bitmap of received fragments beyond it.
    /// Returns whether anything new was acknowledged.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        ack_base: u32,
        bitmap: &[u8],
        window: u8,
        rto_min: Duration,
        rto_max: Duration,
    ) -> bool {
        let mut newest_acked: Option<u32> = None;
        let mut oldest_acked: Option<u32> = None;
        let mut progress = false;
        let mut mark = |this: &mut Self, i: u32| {
            if let Some(b) = Self::bit(i, this.base)
                && i < this.next_new
                && this.acked & b == 0
            {
                this.acked |= b;
                this.lost &= !b;
                progress = true;
                newest_acked = Some(newest_acked.map_or(i, |n: u32| n.max(i)));
                oldest_acked = Some(oldest_acked.map_or(i, |n: u32| n.min(i)));
            }
        };
        let upto = ack_base.min(self.next_new);
        for i in self.base..upto {
            mark(self, i);
        }
        for (j, byte) in bitmap.iter().enumerate() {
            for k in 0..8 {
                if byte & (1 << k) != 0 {
                    mark(self, ack_base + (j as u32) * 8 + k);
                }
            }
        }
        self.peer_window = u16::from(window.max(1));
        // RTT sample from the newest fragment this ack newly covers, if it was sent once
        // (Karn) and asked for an acknowledgement (so the receiver answered at once: a fragment
        // covered late because an earlier ack was lost would inflate the estimate).
        let _ = oldest_acked;
        if let Some(n) = newest_acked {
            let slot = (n % MAX_WINDOW as u32) as usize;
            let asked = Self::bit(n, self.base).is_some_and(|b| self.asked & b != 0);
            // An acknowledgement may also have been triggered by a retransmission sent after
            // this fragment (when an earlier ack was lost): no sample then.
            // Such an ambiguous sample can only overestimate the RTT, so it is used only when it
            // lowers the estimate (or is the first).
            let unambiguous = self.last_rtx.is_none_or(|r| r < self.sent_at[slot]);
            let rtt = now.saturating_since(self.sent_at[slot]);
            let lowers = self.srtt_us == 0 || (rtt.as_micros() as u64) < self.srtt_us;
            if self.tx_count[slot] == 1 && asked && (unambiguous || lowers) {
                self.rtt_sample(rtt, rto_min, rto_max);
            }
            // Loss detection (RACK-like): a fragment still unacknowledged that was sent before
            // the newest acknowledged one is lost if it was sent more than a quarter RTT
            // earlier, or if at least `REORDER_FRAGMENTS` later fragments were acknowledged.
            let newest_sent = self.sent_at[slot];
            let cutoff = newest_sent - Duration::from_micros(self.srtt_us / 4);
            for i in self.base..self.next_new {
                if let Some(b) = Self::bit(i, self.base) {
                    let s = self.sent_at[(i % MAX_WINDOW as u32) as usize];
                    let unresolved = self.acked & b == 0 && self.lost & b == 0;
                    let by_time = s < cutoff;
                    let by_count = i + REORDER_FRAGMENTS <= n && s <= newest_sent;
                    if unresolved && (by_time || by_count) {
                        self.lost |= b;
                    }
                }
            }
        }
        // Slide.
        while self.base < self.next_new && self.acked & 1 != 0 {
            self.acked >>= 1;
            self.lost >>= 1;
            self.asked >>= 1;
            self.base += 1;
        }
        if progress {
            self.last_progress = now;
            self.rto_from = now;
            self.backoff = 0;
        }
        progress
    }

    /// Mark specific fragments lost (retransmit request).
    pub(crate) fn mark_lost(&mut self, ack_base: u32, bitmap: &[u8]) {
        for (j, byte) in bitmap.iter().enumerate() {
            for k in 0..8 {
                if byte & (1 << k) != 0 {
                    let i = ack_base + (j as u32) * 8 + k;
                    if let Some(b) = Self::bit(i, self.base)
                        && i < self.next_new
                        && self.acked & b == 0
                    {
                        self.lost |= b;
                    }
                }
            }
        }
    }

    fn rtt_sample(&mut self, rtt: Duration, rto_min: Duration, rto_max: Duration) {
        let r = rtt.as_micros() as u64;
        if self.srtt_us == 0 {
            self.srtt_us = r;
            self.rttvar_us = r / 2;
        } else {
            let diff = self.srtt_us.abs_diff(r);
            self.rttvar_us = (3 * self.rttvar_us + diff) / 4;
            self.srtt_us = (7 * self.srtt_us + r) / 8;
        }
        let rto = Duration::from_micros(self.srtt_us + 4 * self.rttvar_us.max(1000));
        self.rto = rto.clamp(rto_min, rto_max);
    }

    /// When the retransmission timer fires, if anything is outstanding: an RTO after the oldest
    /// outstanding fragment that asked for an acknowledgement, or after the receiver's delayed
    /// acknowledgement (`ack_delay`) for one that did not; never earlier than an RTO after the
    /// last progress or the last firing.
    pub(crate) fn rto_deadline(&self, rto_max: Duration, ack_delay: Duration) -> Option<Instant> {
        let oldest = self
            .outstanding()
            .map(|i| {
                let sent = self.sent_at[(i % MAX_WINDOW as u32) as usize];
                let asked = Self::bit(i, self.base).is_some_and(|b| self.asked & b != 0);
                if asked { sent } else { sent + ack_delay }
            })
            .min()?;
        Some(oldest.max(self.rto_from) + self.current_rto(rto_max))
    }

    /// The retransmission timeout with back-off applied.
    pub(crate) fn current_rto(&self, rto_max: Duration) -> Duration {
        // Back-off plateaus at ×4 for the first `BACKOFF_PLATEAU` consecutive timeouts: on a
        // lossy radio most timeouts are a lost frame or ack (at 30 % loss each way a round trip
        // fails half the time), not congestion. Past the plateau the path looks dead and the
        // timeout doubles again up to ×2^MAX_BACKOFF_SHIFT (and `rto_max`), sparing airtime.
        let shift = self
            .backoff
            .min(2)
            .max(self.backoff.saturating_sub(BACKOFF_PLATEAU))
            .min(MAX_BACKOFF_SHIFT);
        let factor = 1u32 << shift;
        (self.rto * factor).min(rto_max)
    }

    /// RTO expired: the oldest outstanding fragment is resent as a probe (with an ack request)
    /// and the timeout backs off. The probe's selective acknowledgement tells
    /// which of the others the receiver still lacks, so an interrupted transfer resumes where it
    /// stopped instead of resending the whole window.
    pub(crate) fn on_rto(&mut self, now: Instant) {
        self.rto_from = now;
        // Probe with up to `RTO_PROBES` of the oldest outstanding fragments (each asks for an
        // ack): over several lossy hops a single probe's round trip fails too often, and one
        // acknowledgement of any probe brings the receiver's whole selective-ack state. The
        // window is left alone: a timeout on a radio is loss, and congestion has its own signal.
        let mut probes = 0u64;
        for i in self.outstanding().take(RTO_PROBES) {
            if let Some(b) = Self::bit(i, self.base) {
                probes |= b;
            }
        }
        self.lost |= probes;
        self.backoff = self.backoff.saturating_add(1);
    }
}

/// A blob being received.
#[derive(Debug, Clone)]
pub(crate) struct InTransfer {
    pub(crate) from: NodeId,
    pub(crate) id: u16,
    pub(crate) broadcast: bool,
    pub(crate) count: u32,
    /// Data bytes of every fragment but the last; 0 until a non-last fragment arrived.
    pub(crate) frag_len: u16,
    pub(crate) region: Option<Region>,
    pub(crate) last_len: Option<u16>,
    pub(crate) base: u32,
    /// Ring of received bits for `base..base + RECV_WINDOW` (index % RECV_WINDOW).
    pub(crate) recv: [u64; 4],
    pub(crate) highest: u32,
    pub(crate) last_activity: Instant,
    pub(crate) ack_due: Option<Instant>,
    pub(crate) ack_now: bool,
}

impl InTransfer {
    pub(crate) fn new(from: NodeId, id: u16, count: u32, broadcast: bool, now: Instant) -> Self {
        Self {
            from,
            id,
            broadcast,
            count,
            frag_len: 0,
            region: None,
            last_len: None,
            base: 0,
            recv: [0; 4],
            highest: 0,
            last_activity: now,
            ack_due: None,
            ack_now: false,
        }
    }

    pub(crate) fn has(&self, i: u32) -> bool {
        if i < self.base {
            return true;
        }
        if i >= self.base + RECV_WINDOW {
            return false;
        }
        let r = i % RECV_WINDOW;
        self.recv[(r / 64) as usize] & (1 << (r % 64)) != 0
    }

    pub(crate) fn set(&mut self, i: u32) {
        let r = i % RECV_WINDOW;
        self.recv[(r / 64) as usize] |= 1 << (r % 64);
        self.highest = self.highest.max(i);
        while self.base < self.count && self.has(self.base) {
            let r = self.base % RECV_WINDOW;
            self.recv[(r / 64) as usize] &= !(1 << (r % 64));
            self.base += 1;
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.base >= self.count
    }

    /// The selective-ack bitmap beyond `base` (up to 32 bytes); returns its length.
    pub(crate) fn bitmap(&self, out: &mut [u8; 32]) -> usize {
        *out = [0; 32];
        if self.highest < self.base {
            return 0;
        }
        let span = (self.highest - self.base + 1).min(256);
        for off in 0..span {
            if self.has(self.base + off) {
                out[(off / 8) as usize] |= 1 << (off % 8);
            }
        }
        span.div_ceil(8) as usize
    }

    /// Total content length once every fragment has arrived.
    pub(crate) fn content_len(&self) -> usize {
        let full = (self.count.saturating_sub(1)) as usize * usize::from(self.frag_len);
        full + usize::from(self.last_len.unwrap_or(self.frag_len))
    }
}

/// The node's estimate of the round trip per hop of a routed path, learned from the first RTT
/// sample of each transfer (divided by its estimated hop count). It sets the first timeout of
/// new transfers, which have no sample of their own yet.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PathRtt {
    /// Smoothed per-hop round trip (0: nothing measured yet).
    pub(crate) srtt_us: u32,
}

impl PathRtt {
    /// Learn from a transfer's first RTT sample over `hops` hops (α = 1/8).
    pub(crate) fn sample(&mut self, rtt_us: u64, hops: u8) {
        let r = (rtt_us / u64::from(hops.max(1))).min(u64::from(u32::MAX));
        self.srtt_us = if self.srtt_us == 0 {
            r.max(1) as u32
        } else {
            ((7 * u64::from(self.srtt_us) + r) / 8).max(1) as u32
        };
    }

    /// The first timeout of a transfer over `hops` hops: `hops` × twice the per-hop round trip
    /// once measured (else `hops` × `per_hop`), within `[floor, max]`. Twice the mean, not
    /// mean plus four deviations: samples pooled over paths of different lengths and loads
    /// deviate widely, and a first timeout that long doubled the 99th-percentile latency of a
    /// 1000-node mesh.
    pub(crate) fn initial(
        &self,
        hops: u8,
        per_hop: Duration,
        floor: Duration,
        max: Duration,
    ) -> Duration {
        let hop_us = if self.srtt_us == 0 {
            per_hop.as_micros() as u64
        } else {
            2 * u64::from(self.srtt_us)
        };
        Duration::from_micros(hop_us.saturating_mul(u64::from(hops.max(1))))
            .clamp(floor, max.max(floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(count: u32) -> OutTransfer {
        let mut t = OutTransfer::new(
            SendId(1),
            AppId(7),
            Some(NodeId([1; 8])),
            1,
            Region { start: 0, len: 0 },
            Instant::ZERO,
            Duration::from_millis(100),
            8,
        );
        t.count = count;
        t.state = OutState::Active;
        t
    }

    #[test]
    fn window_limits_new_fragments() {
        let mut t = out(20);
        let mut sent = 0;
        while let Some(i) = t.next_fragment() {
            t.on_sent(i, Instant::from_millis(1), true);
            sent += 1;
        }
        assert_eq!(sent, 8);
        assert_eq!(t.outstanding().count(), 8);
    }

    #[test]
    fn selective_ack_marks_gaps_lost_and_slides() {
        let mut t = out(20);
        for i in 0..8 {
            t.on_sent(i, Instant::from_millis(u64::from(i)), true);
        }
        // Receiver has 0, 1, 3, 4, 5 (bitmap relative to base 2: bits 1, 2 and 3).
        let progress = t.on_ack(
            Instant::from_millis(50),
            2,
            &[0b1110],
            32,
            Duration::from_millis(1),
            Duration::from_secs(1),
        );
        assert!(progress);
        assert_eq!(t.base, 2);
        assert_eq!(
            t.next_fragment(),
            Some(2),
            "three later fragments acked: 2 is lost"
        );
        assert!(t.on_sent(2, Instant::from_millis(60), true));
        assert!(t.srtt_us > 0);
    }

    #[test]
    fn rto_marks_everything_lost_and_backs_off() {
        let mut t = out(4);
        for i in 0..4 {
            t.on_sent(i, Instant::ZERO, true);
        }
        t.on_rto(Instant::ZERO);
        assert_eq!(t.next_fragment(), Some(0));
        t.on_sent(0, Instant::from_millis(1), true);
        assert_eq!(t.next_fragment(), Some(1));
        t.on_sent(1, Instant::from_millis(1), true);
        assert_eq!(t.next_fragment(), None, "only the two oldest are probed");
        assert_eq!(
            t.current_rto(Duration::from_secs(10)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn receiver_window_and_bitmap() {
        let mut r = InTransfer::new(NodeId([2; 8]), 1, 10, false, Instant::ZERO);
        r.set(1);
        r.set(3);
        assert_eq!(r.base, 0);
        let mut map = [0u8; 32];
        assert_eq!(r.bitmap(&mut map), 1);
        assert_eq!(map[0], 0b1010);
        r.set(0);
        assert_eq!(r.base, 2);
        assert!(r.has(1) && !r.has(2) && r.has(3));
        for i in 2..10 {
            r.set(i);
        }
        assert!(r.complete());
    }

    #[test]
    fn first_timeout_grows_with_the_path_and_learns_per_hop() {
        let ms = Duration::from_millis;
        let mut p = PathRtt::default();
        // Unmeasured: hops × per-hop, within [floor, max].
        assert_eq!(p.initial(1, ms(60), ms(300), ms(4000)), ms(300));
        assert_eq!(p.initial(20, ms(60), ms(300), ms(4000)), ms(1200));
        assert_eq!(p.initial(200, ms(60), ms(300), ms(4000)), ms(4000));
        // A 10-hop round trip of 200 ms: 20 ms per hop, twice that per hop of a new path.
        p.sample(200_000, 10);
        assert_eq!(p.initial(20, ms(60), ms(300), ms(4000)), ms(800));
        // Later samples move the mean by an eighth of the difference.
        p.sample(1_000_000, 10);
        assert_eq!(p.initial(20, ms(60), ms(300), ms(4000)), ms(1200));
        // Zero hops count as one; a huge sample saturates instead of overflowing.
        p.sample(u64::MAX, 0);
        assert_eq!(p.initial(255, ms(60), ms(300), ms(4000)), ms(4000));
    }
}
