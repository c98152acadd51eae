//! The links table: per-link MTU, bitrate, broadcast ability and airtime / duty-cycle budget.

use core::time::Duration;

use hyphae_link::LinkInfo;

use crate::time::Instant;

/// Index of a link in the node's links table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u8);

/// Bytes a radio adds around each frame for the airtime estimate (preamble, MAC header, CRC).
const PHY_OVERHEAD_BYTES: u64 = 60;

/// One link's entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) info: LinkInfo,
    /// Airtime credit in microseconds (token bucket; negative after a frame larger than the
    /// remaining credit, which is repaid before the next frame).
    credit_us: i64,
    last_refill: Instant,
    pub(crate) airtime_used_us: u64,
    /// When the last beacon was queued on this link.
    pub(crate) last_beacon: Instant,
    /// Whether a beacon was ever queued on this link.
    pub(crate) beaconed: bool,
}

impl Link {
    pub(crate) fn new(info: LinkInfo) -> Self {
        Self {
            info,
            credit_us: Self::capacity(&info),
            last_refill: Instant::ZERO,
            airtime_used_us: 0,
            last_beacon: Instant::ZERO,
            beaconed: false,
        }
    }

    fn unlimited(info: &LinkInfo) -> bool {
        info.duty_cycle_ppm >= 1_000_000
    }

    fn capacity(info: &LinkInfo) -> i64 {
        let window = i64::try_from(info.duty_cycle_window.as_micros()).unwrap_or(i64::MAX);
        window.saturating_mul(i64::from(info.duty_cycle_ppm)) / 1_000_000
    }

    /// Estimated airtime of a frame of `len` bytes.
    pub(crate) fn airtime(&self, len: usize) -> Duration {
        let bits = (len as u64 + PHY_OVERHEAD_BYTES) * 8;
        Duration::from_micros(bits * 1_000_000 / u64::from(self.info.bitrate.max(1)))
    }

    fn refill(&mut self, now: Instant) {
        let elapsed =
            i64::try_from(now.saturating_since(self.last_refill).as_micros()).unwrap_or(i64::MAX);
        let add = elapsed.saturating_mul(i64::from(self.info.duty_cycle_ppm)) / 1_000_000;
        self.credit_us = self
            .credit_us
            .saturating_add(add)
            .min(Self::capacity(&self.info));
        self.last_refill = now;
    }

    /// When a frame of `len` bytes may be sent (`now` if the budget allows it already).
    pub(crate) fn ready_at(&mut self, now: Instant, len: usize) -> Instant {
        if Self::unlimited(&self.info) {
            return now;
        }
        self.refill(now);
        let capacity = Self::capacity(&self.info);
        // A frame longer than the whole bucket may go once the bucket is full (it is charged in
        // full, leaving a debt), so no frame is blocked forever.
        let need = i64::try_from(self.airtime(len).as_micros())
            .unwrap_or(i64::MAX)
            .min(capacity);
        if self.credit_us >= need {
            return now;
        }
        let missing = need.saturating_sub(self.credit_us).unsigned_abs();
        let wait_us =
            missing.saturating_mul(1_000_000) / u64::from(self.info.duty_cycle_ppm.max(1));
        now + Duration::from_micros(wait_us.max(1))
    }

    /// Charge a frame of `len` bytes sent at `now`.
    pub(crate) fn charge(&mut self, now: Instant, len: usize) {
        let t = u64::try_from(self.airtime(len).as_micros()).unwrap_or(u64::MAX);
        self.airtime_used_us = self.airtime_used_us.saturating_add(t);
        if !Self::unlimited(&self.info) {
            self.refill(now);
            self.credit_us = self
                .credit_us
                .saturating_sub(i64::try_from(t).unwrap_or(i64::MAX));
        }
    }

    /// Charge `extra` bytes more for the frame just charged (the security overhead added after
    /// the frame was sized).
    pub(crate) fn charge_extra(&mut self, now: Instant, extra: usize) {
        let t = (extra as u64 * 8 * 1_000_000) / u64::from(self.info.bitrate.max(1));
        self.airtime_used_us = self.airtime_used_us.saturating_add(t);
        if !Self::unlimited(&self.info) {
            self.refill(now);
            self.credit_us = self
                .credit_us
                .saturating_sub(i64::try_from(t).unwrap_or(i64::MAX));
        }
    }

    /// Least time between two beacons of `len` bytes so that beacons use at most a tenth of the
    /// link's duty-cycle budget (zero on an unlimited link).
    pub(crate) fn beacon_gap(&self, len: usize) -> Duration {
        if Self::unlimited(&self.info) {
            return Duration::ZERO;
        }
        let air = u64::try_from(self.airtime(len).as_micros()).unwrap_or(u64::MAX);
        let us = air.saturating_mul(10_000_000) / u64::from(self.info.duty_cycle_ppm.max(1));
        Duration::from_micros(us)
    }

    /// Remaining airtime credit.
    pub(crate) fn credit(&self) -> Duration {
        if Self::unlimited(&self.info) {
            Duration::MAX
        } else {
            Duration::from_micros(self.credit_us.max(0).unsigned_abs())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyphae_link::LinkKind;

    #[test]
    fn lora_duty_cycle_blocks_then_refills() {
        let mut info = LinkInfo::for_kind(LinkKind::LoraRylr998);
        info.duty_cycle_window = Duration::from_secs(100); // 1 s of airtime per 100 s
        let mut l = Link::new(info);
        let t0 = Instant::from_secs(1);
        let mut sent = 0;
        while l.ready_at(t0, 240) == t0 {
            l.charge(t0, 240);
            sent += 1;
        }
        assert!(sent >= 1);
        let later = l.ready_at(t0, 240);
        assert!(later > t0);
        assert_eq!(l.ready_at(later, 240), later);
    }

    #[test]
    fn espnow_is_unlimited() {
        let mut l = Link::new(LinkInfo::for_kind(LinkKind::EspNowV1));
        let t = Instant::from_secs(1);
        for _ in 0..10_000 {
            l.charge(t, 250);
        }
        assert_eq!(l.ready_at(t, 250), t);
        // 250 B + overhead at 1 Mbit/s
        assert_eq!(l.airtime(250), Duration::from_micros(2480));
    }
}
