//! What the medium saw: frames by class, bytes, collisions, losses, over time.

use crate::scenario::Scenario;

/// What a frame is for, from its kind (the first header byte is never encrypted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    /// Application data: single frames and fragments.
    Data,
    /// Transport control: acks, node status, error notices.
    Transport,
    /// Mesh control: beacons, tree, gossip, service, trace, handshake.
    Control,
    /// Anything else.
    Other,
}

impl FrameClass {
    /// Classify a frame by its kind field.
    pub fn of(bytes: &[u8]) -> Self {
        match bytes.first().map(|b| b & 0x1f) {
            Some(1..=3) => Self::Data,
            Some(4..=6) => Self::Transport,
            Some(7..=12) => Self::Control,
            _ => Self::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One bucket of the time series.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    /// Frames sent, by class.
    pub frames: [u64; 4],
    /// Bytes sent, by class.
    pub bytes: [u64; 4],
}

/// Medium-level counters.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Bucket width, µs.
    pub bucket_us: u64,
    /// The time series.
    pub buckets: Vec<Bucket>,
    /// Frames sent by class.
    pub frames: [u64; 4],
    /// Bytes sent by class.
    pub bytes: [u64; 4],
    /// Airtime by class, µs.
    pub airtime_us: [u64; 4],
    /// Receptions destroyed by an overlapping transmission.
    pub collisions: u64,
    /// Frames lost to link loss (random and path loss).
    pub frames_lost: u64,
    /// Frames handed to nodes.
    pub frames_received: u64,
    /// Frames delivered with a flipped bit.
    pub corrupted: u64,
    /// Frames delivered twice.
    pub duplicated: u64,
    /// Channel-access deferrals (carrier sensed busy).
    pub deferrals: u64,
    /// Unicast frames sent / acknowledged at the MAC layer.
    pub unicast_sent: u64,
    /// Unicast frames the target received.
    pub unicast_acked: u64,
    /// Frames to addresses no node has.
    pub bad_address: u64,
    /// Node crashes / restarts performed.
    pub crashes: u64,
    /// Restarts performed.
    pub restarts: u64,
}

impl Stats {
    /// Empty counters with the scenario's bucket width.
    pub fn new(sc: &Scenario) -> Self {
        let w = if sc.sample > 0.0 {
            sc.sample
        } else {
            (sc.duration / 100.0).max(1.0)
        };
        let bucket_us = (w * 1e6) as u64;
        let n = (sc.duration * 1e6 / bucket_us as f64).ceil() as usize + 1;
        Self {
            bucket_us,
            buckets: vec![Bucket::default(); n],
            frames: [0; 4],
            bytes: [0; 4],
            airtime_us: [0; 4],
            collisions: 0,
            frames_lost: 0,
            frames_received: 0,
            corrupted: 0,
            duplicated: 0,
            deferrals: 0,
            unicast_sent: 0,
            unicast_acked: 0,
            bad_address: 0,
            crashes: 0,
            restarts: 0,
        }
    }

    /// Count a transmission.
    pub fn on_tx(&mut self, now: u64, class: FrameClass, len: usize, air_us: u64) {
        let c = class.index();
        self.frames[c] += 1;
        self.bytes[c] += len as u64;
        self.airtime_us[c] += air_us;
        let b = ((now / self.bucket_us) as usize).min(self.buckets.len() - 1);
        self.buckets[b].frames[c] += 1;
        self.buckets[b].bytes[c] += len as u64;
    }

    /// Index of the bucket holding time `us`.
    pub fn bucket_of(&self, us: u64) -> usize {
        ((us / self.bucket_us) as usize).min(self.buckets.len() - 1)
    }
}

/// Class indices, for readers of [`Stats::frames`].
pub mod class {
    /// Data.
    pub const DATA: usize = 0;
    /// Transport.
    pub const TRANSPORT: usize = 1;
    /// Control.
    pub const CONTROL: usize = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(FrameClass::of(&[0x01]), FrameClass::Data);
        assert_eq!(FrameClass::of(&[0x23]), FrameClass::Data);
        assert_eq!(FrameClass::of(&[0x04]), FrameClass::Transport);
        assert_eq!(FrameClass::of(&[0x07]), FrameClass::Control);
        assert_eq!(FrameClass::of(&[]), FrameClass::Other);
        assert_eq!(FrameClass::of(&[0x1f]), FrameClass::Other);
    }
}
