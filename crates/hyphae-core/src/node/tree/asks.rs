//! Rate limit of on-demand requests (claims, credentials): at most one request per key every
//! [`ASK_GAP`], the `N` most recent remembered.

use crate::time::Instant;
use core::time::Duration;

/// Least time between two requests for one key.
pub(super) const ASK_GAP: Duration = Duration::from_secs(1);

/// The last `N` requests: key, when.
#[derive(Debug)]
pub(super) struct Asks<K, const N: usize>([Option<(K, Instant)>; N]);

impl<K: Copy + PartialEq, const N: usize> Default for Asks<K, N> {
    fn default() -> Self {
        Self([None; N])
    }
}

impl<K: Copy + PartialEq, const N: usize> Asks<K, N> {
    /// Whether `key` was asked for less than [`ASK_GAP`] ago.
    pub(super) fn recently(&self, key: K, now: Instant) -> bool {
        self.0
            .iter()
            .flatten()
            .any(|(k, at)| *k == key && now < *at + ASK_GAP)
    }

    /// Remember asking for `key` now, in place of the oldest request.
    pub(super) fn note(&mut self, key: K, now: Instant) {
        let slot = (0..N)
            .min_by_key(|&i| self.0[i].map_or(Instant::ZERO, |a| a.1))
            .unwrap_or(0);
        if let Some(s) = self.0.get_mut(slot) {
            *s = Some((key, now));
        }
    }

    /// Forget the request for `key` (its answer came).
    pub(super) fn forget(&mut self, key: K) {
        for a in &mut self.0 {
            if a.is_some_and(|(k, _)| k == key) {
                *a = None;
            }
        }
    }
}
