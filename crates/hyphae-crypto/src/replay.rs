//! Replay windows and the persistent frame counter (`security.md` §7, §8).

use rand_core::TryCryptoRng;

use crate::error::{Error, Result};
use crate::identity::{Identity, KeyStore};

/// Width of the replay window in counters.
pub const WINDOW: u32 = 64;

/// A sliding window over a sender's frame counters: accepts each counter at most once, and
/// nothing older than 64 below the highest accepted. 12 bytes of state per sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    /// Highest accepted counter plus one; 0 = nothing accepted yet.
    top: u64,
    /// Bit i set = counter `top - 1 - i` accepted.
    seen: u64,
}

impl ReplayWindow {
    /// A window that has accepted nothing.
    pub const fn new() -> Self {
        Self { top: 0, seen: 0 }
    }

    /// A window that accepts only counters above `counter`: used when a receiver learns a
    /// proven-fresh counter of a sender (the frame that completed a link handshake, `security.md`
    /// §7) after its own reboot lost the sender's window.
    pub const fn after(counter: u32) -> Self {
        Self {
            top: counter as u64 + 1,
            seen: u64::MAX,
        }
    }

    /// Would `counter` be accepted? Does not change the window: call before the (costly)
    /// AEAD open, then [`ReplayWindow::accept`] after it succeeded.
    pub fn check(&self, counter: u32) -> Result<()> {
        let c = u64::from(counter);
        if c >= self.top {
            return Ok(());
        }
        let age = self.top - 1 - c;
        if age >= u64::from(WINDOW) || self.seen & (1 << age) != 0 {
            return Err(Error::Replay);
        }
        Ok(())
    }

    /// Record `counter` as accepted (only after its frame authenticated).
    pub fn accept(&mut self, counter: u32) -> Result<()> {
        self.check(counter)?;
        let c = u64::from(counter);
        if c >= self.top {
            let shift = c + 1 - self.top;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.top = c + 1;
        } else {
            self.seen |= 1 << (self.top - 1 - c);
        }
        Ok(())
    }

    /// The highest accepted counter, if any.
    pub fn highest(&self) -> Option<u32> {
        self.top.checked_sub(1).and_then(|h| u32::try_from(h).ok())
    }
}

/// Persistent storage of the frame-counter reservation (a flash word on MCUs, a file on
/// hosts). The value is the first counter *not* yet reserved; `1 << 32` means exhausted.
pub trait CounterStore {
    /// The stored reservation, or `None` if nothing was ever stored.
    fn load(&mut self) -> Result<Option<u64>>;
    /// Durably store a new reservation. It must be on stable storage when this returns.
    fn store(&mut self, reserved: u64) -> Result<()>;
}

/// Counter space: 2^32 counters per identity.
const SPACE: u64 = 1 << 32;

/// The node's frame counter. One counter per identity, shared by every key it sends under,
/// so (sender, counter) never repeats and nonces never repeat under any key.
///
/// Reservation scheme: before handing out counter `c` the node has persisted some `r > c`;
/// after a reboot it starts at the persisted `r`. At most `step` counters are skipped per
/// reboot, and storage is written once per `step` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCounter {
    next: u64,
    reserved: u64,
    step: u32,
}

impl FrameCounter {
    /// Resume from `store`: the first counter is the stored reservation (0 on a fresh store).
    /// `step` (≥ 1) is how many counters each write reserves; 1024 is a good default.
    pub fn resume<S: CounterStore + ?Sized>(store: &mut S, step: u32) -> Result<Self> {
        let start = store.load()?.unwrap_or(0).min(SPACE);
        Ok(Self {
            next: start,
            reserved: start,
            step: step.max(1),
        })
    }

    /// The next counter to send with. Persists a new reservation when the current one is used
    /// up. [`Error::CounterExhausted`] after 2^32 frames: the node must take a new identity.
    pub fn next<S: CounterStore + ?Sized>(&mut self, store: &mut S) -> Result<u32> {
        if self.next >= SPACE {
            return Err(Error::CounterExhausted);
        }
        if self.next >= self.reserved {
            let r = (self.next + u64::from(self.step)).min(SPACE);
            store.store(r)?;
            self.reserved = r;
        }
        let c = self.next as u32;
        self.next += 1;
        Ok(c)
    }

    /// Counters left before exhaustion.
    pub fn remaining(&self) -> u64 {
        SPACE - self.next.min(SPACE)
    }
}

/// What [`boot`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootState {
    /// Identity and counter resumed.
    Resumed,
    /// A new identity was created (first boot, or an identity without counter): it needs a
    /// credential before it can join.
    NewIdentity,
}

/// Boot the node's identity and counter together. An identity whose counter record is
/// missing (e.g. flash partially erased by a re-flash) is **never** reused: its nonces could
/// repeat. A new identity is generated instead, and its counter starts at 0.
pub fn boot<K, C, R>(
    keys: &mut K,
    counters: &mut C,
    rng: &mut R,
    step: u32,
) -> Result<(Identity, FrameCounter, BootState)>
where
    K: KeyStore + ?Sized,
    C: CounterStore + ?Sized,
    R: TryCryptoRng + ?Sized,
{
    let have_counter = counters.load()?.is_some();
    if have_counter && let Some(seed) = keys.load()? {
        let id = Identity::from_seed(&seed);
        return Ok((
            id,
            FrameCounter::resume(counters, step)?,
            BootState::Resumed,
        ));
    }
    let id = Identity::generate(rng)?;
    // Counter first: if we crash between the writes, the next boot sees a counter but the
    // old (or no) identity, and an old identity with a reset counter must not happen.
    counters.store(0)?;
    keys.store(&id.seed())?;
    Ok((
        id,
        FrameCounter::resume(counters, step)?,
        BootState::NewIdentity,
    ))
}

/// A counter store in RAM (tests and the simulator).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryCounterStore {
    value: Option<u64>,
    /// Number of writes so far (to check the write amplification).
    pub writes: u32,
}

impl MemoryCounterStore {
    /// An empty store.
    pub const fn new() -> Self {
        Self {
            value: None,
            writes: 0,
        }
    }
}

impl CounterStore for MemoryCounterStore {
    fn load(&mut self) -> Result<Option<u64>> {
        Ok(self.value)
    }
    fn store(&mut self, reserved: u64) -> Result<()> {
        self.value = Some(reserved);
        self.writes += 1;
        Ok(())
    }
}

#[cfg(feature = "std")]
pub use file::FileCounterStore;

#[cfg(feature = "std")]
mod file {
    extern crate std;
    use std::fs;
    use std::io::Write;
    use std::path::PathBuf;

    use super::CounterStore;
    use crate::error::{Error, Result};

    /// A counter store in one 8-byte file (u64 LE), replaced atomically and fsynced.
    #[derive(Debug, Clone)]
    pub struct FileCounterStore {
        path: PathBuf,
    }

    impl FileCounterStore {
        /// A store at `path` (the file need not exist yet).
        pub fn new(path: impl Into<PathBuf>) -> Self {
            Self { path: path.into() }
        }
    }

    impl CounterStore for FileCounterStore {
        fn load(&mut self) -> Result<Option<u64>> {
            match fs::read(&self.path) {
                Ok(b) => {
                    let v: [u8; 8] = b.as_slice().try_into().map_err(|_| Error::Storage)?;
                    Ok(Some(u64::from_le_bytes(v)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(_) => Err(Error::Storage),
            }
        }

        fn store(&mut self, reserved: u64) -> Result<()> {
            let tmp = self.path.with_extension("tmp");
            let mut f = fs::File::create(&tmp).map_err(|_| Error::Storage)?;
            f.write_all(&reserved.to_le_bytes())
                .map_err(|_| Error::Storage)?;
            f.sync_all().map_err(|_| Error::Storage)?;
            fs::rename(&tmp, &self.path).map_err(|_| Error::Storage)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::MemoryKeyStore;
    use crate::testing::TestRng;
    use proptest::prelude::*;

    #[test]
    fn window_basics() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.highest(), None);
        w.accept(0).unwrap();
        assert_eq!(w.accept(0), Err(Error::Replay));
        w.accept(10).unwrap();
        w.accept(5).unwrap();
        assert_eq!(w.accept(5), Err(Error::Replay));
        w.accept(100).unwrap();
        assert_eq!(w.check(36), Err(Error::Replay)); // 64 below the top
        w.check(37).unwrap();
        w.accept(u32::MAX).unwrap();
        assert_eq!(w.accept(u32::MAX), Err(Error::Replay));
        assert_eq!(w.highest(), Some(u32::MAX));
    }

    #[test]
    fn window_after() {
        let mut w = ReplayWindow::after(100);
        for c in [0, 37, 99, 100] {
            assert_eq!(w.check(c), Err(Error::Replay));
        }
        w.accept(101).unwrap();
        assert_eq!(
            ReplayWindow::after(u32::MAX).check(u32::MAX),
            Err(Error::Replay)
        );
    }

    #[test]
    fn counter_reservation_across_reboots() {
        let mut store = MemoryCounterStore::new();
        let mut c = FrameCounter::resume(&mut store, 100).unwrap();
        for i in 0..250 {
            assert_eq!(c.next(&mut store).unwrap(), i);
        }
        assert_eq!(store.writes, 3);
        // Power loss: the next boot starts at the reservation, never below a used counter.
        let mut c = FrameCounter::resume(&mut store, 100).unwrap();
        assert_eq!(c.next(&mut store).unwrap(), 300);
    }

    #[test]
    fn counter_exhaustion() {
        let mut store = MemoryCounterStore::new();
        store.store(SPACE - 2).unwrap();
        let mut c = FrameCounter::resume(&mut store, 1024).unwrap();
        assert_eq!(c.next(&mut store).unwrap(), u32::MAX - 1);
        assert_eq!(c.next(&mut store).unwrap(), u32::MAX);
        assert_eq!(c.next(&mut store), Err(Error::CounterExhausted));
        assert_eq!(c.remaining(), 0);
    }

    #[test]
    fn boot_never_reuses_identity_without_counter() {
        let mut keys = MemoryKeyStore::new();
        let mut ctr = MemoryCounterStore::new();
        let mut rng = TestRng(5);
        let (a, mut c, s) = boot(&mut keys, &mut ctr, &mut rng, 16).unwrap();
        assert_eq!(s, BootState::NewIdentity);
        for _ in 0..20 {
            c.next(&mut ctr).unwrap();
        }
        let (b, mut c2, s) = boot(&mut keys, &mut ctr, &mut rng, 16).unwrap();
        assert_eq!(s, BootState::Resumed);
        assert_eq!(a.node_id(), b.node_id());
        assert_eq!(c2.next(&mut ctr).unwrap(), 32);
        // Counter record lost, key kept: a new identity.
        let mut empty = MemoryCounterStore::new();
        let (d, mut c3, s) = boot(&mut keys, &mut empty, &mut rng, 16).unwrap();
        assert_eq!(s, BootState::NewIdentity);
        assert_ne!(d.node_id(), a.node_id());
        assert_eq!(c3.next(&mut empty).unwrap(), 0);
    }

    #[cfg(feature = "std")]
    #[test]
    fn file_counter_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileCounterStore::new(dir.path().join("ctr"));
        assert_eq!(s.load().unwrap(), None);
        let mut c = FrameCounter::resume(&mut s, 8).unwrap();
        for _ in 0..10 {
            c.next(&mut s).unwrap();
        }
        let mut s2 = FileCounterStore::new(dir.path().join("ctr"));
        assert_eq!(s2.load().unwrap(), Some(16));
    }

    proptest! {
        #[test]
        fn window_never_accepts_twice(ops in proptest::collection::vec(0u32..300, 1..400)) {
            let mut w = ReplayWindow::new();
            let mut accepted = std::collections::HashSet::new();
            for c in ops {
                if w.accept(c).is_ok() {
                    prop_assert!(accepted.insert(c), "counter {} accepted twice", c);
                }
            }
        }

        #[test]
        fn window_accepts_fresh_in_order(start in any::<u32>(), n in 1u32..200) {
            let mut w = ReplayWindow::new();
            for i in 0..n {
                let c = start.saturating_add(i);
                if c == u32::MAX && i > 0 && start.saturating_add(i - 1) == u32::MAX { break; }
                prop_assert!(w.accept(c).is_ok());
            }
        }

        #[test]
        fn counter_strictly_increases_across_reboots(
            step in 1u32..50,
            runs in proptest::collection::vec(0usize..120, 1..6),
        ) {
            let mut store = MemoryCounterStore::new();
            let mut last: Option<u32> = None;
            for n in runs {
                let mut c = FrameCounter::resume(&mut store, step).unwrap();
                for _ in 0..n {
                    let v = c.next(&mut store).unwrap();
                    if let Some(l) = last { prop_assert!(v > l); }
                    last = Some(v);
                }
            }
        }
    }

    extern crate std;
}
