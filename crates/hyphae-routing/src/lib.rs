#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod forward;
pub mod gossip;
pub mod metric;
pub mod names;
pub mod router;
pub mod service;
pub mod trace;

pub use forward::{Decision, Forwarder};
pub use hyphae_wire::beacon::TreeEntry;
pub use hyphae_wire::tree::Op as TreeOp;
pub use hyphae_wire::{Address, Coords, NodeId, ShortId, TreeRepr};
pub use metric::Metric;
pub use router::{Config, Dest, OpenPolicy, RootPolicy, Router};

/// A point in time in microseconds since an arbitrary origin (the caller's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

/// A span of time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Duration {
    /// `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms.saturating_mul(1000))
    }
    /// `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1_000_000))
    }
    /// `self` times `n`, saturating.
    pub const fn times(self, n: u64) -> Self {
        Self(self.0.saturating_mul(n))
    }
}

impl Instant {
    /// `self + d`, saturating.
    pub const fn add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.0))
    }
    /// Time elapsed from `earlier` to `self` (0 if `earlier` is later).
    pub const fn since(self, earlier: Self) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

/// The caller's handle for a neighbour (the core maps it to its peer table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NeighbourId(pub u16);

/// splitmix64 finaliser: a cheap deterministic mixer for tie-breaks and default root ranks.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `true` if epoch `a` is newer than `b` in serial-number arithmetic.
pub const fn epoch_newer(a: u16, b: u16) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_wrap() {
        assert!(epoch_newer(1, 0));
        assert!(epoch_newer(0, 0xffff));
        assert!(!epoch_newer(5, 5));
        assert!(!epoch_newer(0, 1));
    }

    #[test]
    fn time_saturates() {
        assert_eq!(Instant(5).since(Instant(9)), Duration(0));
        assert_eq!(Instant(u64::MAX).add(Duration(1)), Instant(u64::MAX));
        assert_eq!(Duration::from_secs(2).times(3), Duration(6_000_000));
    }
}
