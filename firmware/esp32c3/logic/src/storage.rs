//! The node's key storage: identity seed, frame-counter reservation and provisioning record in
//! a small flash region (the `nvs` partition), behind the [`Flash`] trait so that every rule
//! here runs on the host against [`MemFlash`] (`docs/spec/security.md` §16).
//!
//! The region is four 4 KiB sectors:
//!
//! | sector | offset | content | written by |
//! |---|---|---|---|
//! | 0 | `0x0000` | identity record ([`crate::identity`]), seed of the Ed25519 key | the node, once per identity |
//! | 1 | `0x1000` | provisioning record ([`crate::provision`]) | the admin (`espflash write-bin`) |
//! | 2, 3 | `0x2000`, `0x3000` | counter journal: 16-byte entries `HYCR` ‖ reservation (u64 LE) ‖ CRC-32 of the 12 bytes before | the node, on every `Event::CounterReserve` |
//!
//! The journal appends (NOR flash programs erased words without an erase) and erases a sector
//! only when the other one is full: one erase per 256 reservations, i.e. per 262 144 frames with
//! the core's 1024-counter step, so 100 000 erase cycles outlast the 2^32 counters of an identity.
//! The current reservation is the highest valid entry; a torn entry fails its CRC and is skipped.
//!
//! [`Nvs`] implements `hyphae_crypto`'s [`KeyStore`] and [`CounterStore`], and [`Nvs::boot`]
//! runs `hyphae_crypto::replay::boot` over them: an identity whose counter is missing is never
//! reused, the counter is written before the seed.

use core::cell::RefCell;
use core::fmt;

use hyphae_core::security::hyphae_crypto::{
    self, CounterStore, FrameCounter, Identity, KeyStore,
    identity::SECRET_LEN,
    replay::{self, BootState},
};

use crate::identity;
use crate::provision::{self, CRC32};

/// Erase unit of the flash.
pub const SECTOR: u32 = 4096;
/// Program unit of the flash (offsets and lengths of [`Flash::program`] are multiples of it).
pub const WORD: u32 = 4;
/// Offset of the identity record.
pub const IDENTITY: u32 = 0;
/// Offset of the provisioning record (`espflash write-bin <partition offset + 0x1000>`).
pub const PROVISION: u32 = SECTOR;
/// Offsets of the two counter journal sectors.
pub const JOURNAL: [u32; 2] = [2 * SECTOR, 3 * SECTOR];
/// Size the region must have at least.
pub const REGION_LEN: u32 = 4 * SECTOR;

const ENTRY: usize = 16;
const ENTRY_MAGIC: &[u8; 4] = b"HYCR";
const ENTRIES: u32 = SECTOR / ENTRY as u32;

/// Why a flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlashError {
    /// The device reported an error.
    Device,
    /// Outside the region, or not aligned to [`WORD`] / [`SECTOR`].
    OutOfBounds,
    /// What was read back differs from what was written.
    Verify,
    /// The region is smaller than [`REGION_LEN`].
    TooSmall,
}

impl fmt::Display for FlashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Device => "flash device error",
            Self::OutOfBounds => "flash access out of bounds or unaligned",
            Self::Verify => "flash read-back differs from what was written",
            Self::TooSmall => "flash region too small",
        })
    }
}

impl core::error::Error for FlashError {}

/// A region of NOR flash (offsets relative to its start).
pub trait Flash {
    /// Size of the region in bytes.
    fn capacity(&self) -> u32;
    /// Read `buf.len()` bytes at `offset`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;
    /// Program `data` at `offset` (both multiples of [`WORD`]). NOR semantics: programming only
    /// clears bits, so the range must have been erased.
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;
    /// Erase the sector at `offset` (a multiple of [`SECTOR`]) to `0xFF`.
    fn erase(&mut self, offset: u32) -> Result<(), FlashError>;
}

/// A flash region in RAM with NOR semantics (programming ANDs bits in), counting erases per
/// sector: the host tests' flash.
#[derive(Clone)]
pub struct MemFlash<const N: usize> {
    /// The bytes.
    pub bytes: [u8; N],
    /// Erases per sector.
    pub erases: [u32; 8],
    /// When set, the next program writes only this many bytes and fails (a power cut).
    pub cut_after: Option<usize>,
}

impl<const N: usize> MemFlash<N> {
    /// An erased region.
    pub const fn new() -> Self {
        Self {
            bytes: [0xFF; N],
            erases: [0; 8],
            cut_after: None,
        }
    }

    fn check(
        &self,
        offset: u32,
        len: usize,
        unit: u32,
    ) -> Result<core::ops::Range<usize>, FlashError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(FlashError::OutOfBounds)?;
        if end > N || !offset.is_multiple_of(unit) || !(len as u32).is_multiple_of(unit) {
            return Err(FlashError::OutOfBounds);
        }
        Ok(start..end)
    }
}

impl<const N: usize> Default for MemFlash<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Flash for MemFlash<N> {
    fn capacity(&self) -> u32 {
        N as u32
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let r = self.check(offset, buf.len(), 1)?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let r = self.check(offset, data.len(), WORD)?;
        let n = self.cut_after.take().unwrap_or(data.len()).min(data.len());
        for (b, d) in self.bytes[r].iter_mut().zip(&data[..n]) {
            *b &= d;
        }
        if n < data.len() {
            return Err(FlashError::Device);
        }
        Ok(())
    }
    fn erase(&mut self, offset: u32) -> Result<(), FlashError> {
        let r = self.check(offset, SECTOR as usize, SECTOR)?;
        self.bytes[r].fill(0xFF);
        if let Some(e) = self.erases.get_mut((offset / SECTOR) as usize) {
            *e += 1;
        }
        Ok(())
    }
}

/// What [`Nvs::boot`] found: the identity and its frame counter.
pub struct Booted {
    /// The node's identity.
    pub identity: Identity,
    /// Its frame counter, resumed at the stored reservation.
    pub counter: FrameCounter,
    /// The stored reservation (pass it to `Security::new` with the counter).
    pub stored: u64,
    /// Resumed, or a new identity (which needs a credential).
    pub state: BootState,
}

/// The node's key storage over a flash region (layout in the module doc).
pub struct Nvs<F> {
    flash: F,
}

impl<F: Flash> Nvs<F> {
    /// Key storage over `flash`, which must hold at least [`REGION_LEN`] bytes.
    pub fn new(flash: F) -> Result<Self, FlashError> {
        if flash.capacity() < REGION_LEN {
            return Err(FlashError::TooSmall);
        }
        Ok(Self { flash })
    }

    /// Load the identity and counter, creating a new identity (counter first) on first boot,
    /// after an erase, or when the counter journal is missing. `random` fills a buffer from a
    /// cryptographic RNG.
    pub fn boot(&mut self, random: impl FnMut(&mut [u8])) -> hyphae_crypto::Result<Booted> {
        let cell = RefCell::new(self);
        let mut keys = Keys(&cell);
        let mut counters = Counters(&cell);
        let (identity, counter, state) =
            replay::boot(&mut keys, &mut counters, &mut FnRng(random), 1)?;
        let stored = counters.load()?.unwrap_or(0);
        Ok(Booted {
            identity,
            counter,
            stored,
            state,
        })
    }

    /// The provisioning record, if a valid one is present.
    pub fn provision(&mut self) -> Result<provision::Record, ProvisionError> {
        let mut buf = [0u8; provision::RECORD_LEN];
        self.flash
            .read(PROVISION, &mut buf)
            .map_err(ProvisionError::Flash)?;
        provision::Record::decode(&buf).map_err(ProvisionError::Record)
    }

    /// Store a provisioning record (serial provisioning, tests): erases its sector.
    pub fn store_provision(&mut self, record: &provision::Record) -> Result<(), FlashError> {
        self.rewrite(PROVISION, &record.encode())
    }

    /// The flash region.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Erase the sector at `offset` and write `data` there, checking it by reading back.
    fn rewrite(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.flash.erase(offset)?;
        self.program_checked(offset, data)
    }

    fn program_checked(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.flash.program(offset, data)?;
        let mut back = [0u8; provision::RECORD_LEN];
        for (i, chunk) in data.chunks(back.len()).enumerate() {
            let b = &mut back[..chunk.len()];
            self.flash
                .read(offset + (i * provision::RECORD_LEN) as u32, b)?;
            if b != chunk {
                return Err(FlashError::Verify);
            }
        }
        Ok(())
    }

    /// The journal's highest valid entry and where the next one goes: (value, sector index of
    /// the value, first free slot after the last used one in that sector).
    fn scan(&mut self) -> Result<Journal, FlashError> {
        let mut best: Option<(u64, usize)> = None;
        let mut next_free = [None; 2];
        for (s, base) in JOURNAL.iter().enumerate() {
            let mut last_used = None;
            for slot in 0..ENTRIES {
                let mut e = [0u8; ENTRY];
                self.flash.read(base + slot * ENTRY as u32, &mut e)?;
                if e.iter().all(|b| *b == 0xFF) {
                    continue;
                }
                last_used = Some(slot);
                if let Some(v) = parse_entry(&e)
                    && best.is_none_or(|(b, _)| v > b)
                {
                    best = Some((v, s));
                }
            }
            next_free[s] = match last_used {
                None => Some(0),
                Some(l) if l + 1 < ENTRIES => Some(l + 1),
                Some(_) => None,
            };
        }
        Ok(Journal { best, next_free })
    }

    fn append(&mut self, sector: usize, slot: u32, value: u64) -> Result<(), FlashError> {
        let mut e = [0u8; ENTRY];
        e[..4].copy_from_slice(ENTRY_MAGIC);
        e[4..12].copy_from_slice(&value.to_le_bytes());
        let crc = CRC32.checksum(&e[..12]);
        e[12..].copy_from_slice(&crc.to_le_bytes());
        self.program_checked(JOURNAL[sector] + slot * ENTRY as u32, &e)
    }
}

struct Journal {
    best: Option<(u64, usize)>,
    next_free: [Option<u32>; 2],
}

fn parse_entry(e: &[u8; ENTRY]) -> Option<u64> {
    if &e[..4] != ENTRY_MAGIC || CRC32.checksum(&e[..12]).to_le_bytes() != e[12..] {
        return None;
    }
    let mut v = [0u8; 8];
    v.copy_from_slice(&e[4..12]);
    Some(u64::from_le_bytes(v))
}

/// Why the provisioning record cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionError {
    /// Reading the flash failed.
    Flash(FlashError),
    /// The record is missing or refused.
    Record(provision::Error),
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flash(e) => e.fmt(f),
            Self::Record(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for ProvisionError {}

impl<F: Flash> KeyStore for Nvs<F> {
    /// The seed of a valid identity record whose node id is the one the seed derives (a record
    /// of an older format, with a random id, counts as empty).
    fn load(&mut self) -> hyphae_crypto::Result<Option<[u8; SECRET_LEN]>> {
        let mut r = [0u8; identity::RECORD_LEN];
        self.flash
            .read(IDENTITY, &mut r)
            .map_err(|_| hyphae_crypto::Error::Storage)?;
        Ok(identity::Record::decode(&r)
            .filter(|rec| Identity::from_seed(&rec.seed).node_id().0 == rec.id.0)
            .map(|rec| rec.seed))
    }

    fn store(&mut self, seed: &[u8; SECRET_LEN]) -> hyphae_crypto::Result<()> {
        let id = hyphae_core::NodeId(Identity::from_seed(seed).node_id().0);
        let rec = identity::Record { id, seed: *seed }.encode();
        // Whole words: pad the record with erased bytes.
        let mut w = [0xFF; identity::RECORD_LEN.next_multiple_of(WORD as usize)];
        w[..rec.len()].copy_from_slice(&rec);
        self.rewrite(IDENTITY, &w)
            .map_err(|_| hyphae_crypto::Error::Storage)
    }
}

impl<F: Flash> CounterStore for Nvs<F> {
    fn load(&mut self) -> hyphae_crypto::Result<Option<u64>> {
        let j = self.scan().map_err(|_| hyphae_crypto::Error::Storage)?;
        Ok(j.best.map(|(v, _)| v))
    }

    /// Append the reservation to the journal. A value below the current one (a new identity's
    /// counter starting at 0) clears the journal first.
    fn store(&mut self, reserved: u64) -> hyphae_crypto::Result<()> {
        let r = (|| {
            let j = self.scan()?;
            match j.best {
                Some((v, s)) if reserved >= v => match j.next_free[s] {
                    Some(slot) => self.append(s, slot, reserved),
                    None => {
                        // The other sector takes over; the full one keeps the value until then.
                        let o = 1 - s;
                        self.flash.erase(JOURNAL[o])?;
                        self.append(o, 0, reserved)
                    }
                },
                Some(_) => {
                    self.flash.erase(JOURNAL[0])?;
                    self.flash.erase(JOURNAL[1])?;
                    self.append(0, 0, reserved)
                }
                None => match j.next_free {
                    [Some(slot), _] => self.append(0, slot, reserved),
                    [None, Some(slot)] => self.append(1, slot, reserved),
                    [None, None] => {
                        self.flash.erase(JOURNAL[0])?;
                        self.append(0, 0, reserved)
                    }
                },
            }
        })();
        r.map_err(|_| hyphae_crypto::Error::Storage)
    }
}

/// The key-store half of an [`Nvs`] shared with its counter-store half during boot.
struct Keys<'a, 'n, F>(&'a RefCell<&'n mut Nvs<F>>);
/// The counter-store half of an [`Nvs`] shared with its key-store half during boot.
struct Counters<'a, 'n, F>(&'a RefCell<&'n mut Nvs<F>>);

impl<F: Flash> KeyStore for Keys<'_, '_, F> {
    fn load(&mut self) -> hyphae_crypto::Result<Option<[u8; SECRET_LEN]>> {
        KeyStore::load(&mut **self.0.borrow_mut())
    }
    fn store(&mut self, seed: &[u8; SECRET_LEN]) -> hyphae_crypto::Result<()> {
        KeyStore::store(&mut **self.0.borrow_mut(), seed)
    }
}

impl<F: Flash> CounterStore for Counters<'_, '_, F> {
    fn load(&mut self) -> hyphae_crypto::Result<Option<u64>> {
        CounterStore::load(&mut **self.0.borrow_mut())
    }
    fn store(&mut self, reserved: u64) -> hyphae_crypto::Result<()> {
        CounterStore::store(&mut **self.0.borrow_mut(), reserved)
    }
}

/// A cryptographic RNG from a fill function (the ESP32's hardware RNG while the radio runs).
pub struct FnRng<R>(pub R);

impl<R: FnMut(&mut [u8])> rand_core::TryRng for FnRng<R> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        (self.0)(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        (self.0)(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        (self.0)(dst);
        Ok(())
    }
}

impl<R: FnMut(&mut [u8])> rand_core::TryCryptoRng for FnRng<R> {}

#[cfg(test)]
mod tests {
    use super::*;

    type Mem = MemFlash<{ REGION_LEN as usize }>;

    fn counting_rng() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |b: &mut [u8]| {
            for x in b {
                n = n.wrapping_add(37);
                *x = n;
            }
        }
    }

    #[test]
    fn first_boot_creates_then_resumes() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        let a = nvs.boot(counting_rng()).unwrap();
        assert_eq!(a.state, BootState::NewIdentity);
        assert_eq!(a.stored, 0);
        CounterStore::store(&mut nvs, 4096).unwrap();
        let b = nvs.boot(|_| panic!("no new identity")).unwrap();
        assert_eq!(b.state, BootState::Resumed);
        assert_eq!(b.identity.node_id(), a.identity.node_id());
        assert_eq!(b.stored, 4096);
        // The identity record names the derived node id.
        let mut r = [0u8; identity::RECORD_LEN];
        nvs.flash_mut().read(IDENTITY, &mut r).unwrap();
        let rec = identity::Record::decode(&r).unwrap();
        assert_eq!(rec.id.0, a.identity.node_id().0);
    }

    #[test]
    fn identity_without_counter_is_replaced() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        let a = nvs.boot(counting_rng()).unwrap();
        CounterStore::store(&mut nvs, 2048).unwrap();
        // Partial erase: the journal is gone, the seed is still there.
        nvs.flash_mut().erase(JOURNAL[0]).unwrap();
        nvs.flash_mut().erase(JOURNAL[1]).unwrap();
        let mut other = 0u8;
        let b = nvs
            .boot(|b: &mut [u8]| {
                for x in b {
                    other = other.wrapping_add(11);
                    *x = other;
                }
            })
            .unwrap();
        assert_eq!(b.state, BootState::NewIdentity);
        assert_ne!(b.identity.node_id(), a.identity.node_id());
    }

    #[test]
    fn legacy_identity_record_counts_as_empty() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        // Format 1 as the lab firmware wrote it: a random id, not derived from the seed.
        let rec = identity::Record {
            id: hyphae_core::NodeId([1; 8]),
            seed: [2; 32],
        }
        .encode();
        let mut w = [0xFF; 52];
        w[..50].copy_from_slice(&rec);
        nvs.flash_mut().program(IDENTITY, &w).unwrap();
        CounterStore::store(&mut nvs, 0).unwrap();
        assert_eq!(KeyStore::load(&mut nvs).unwrap(), None);
    }

    #[test]
    fn journal_is_monotonic_and_wears_slowly() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        assert_eq!(CounterStore::load(&mut nvs).unwrap(), None);
        let n = 3 * ENTRIES as u64 + 5;
        for i in 1..=n {
            CounterStore::store(&mut nvs, i * 1024).unwrap();
            assert_eq!(CounterStore::load(&mut nvs).unwrap(), Some(i * 1024));
        }
        // Three sector switches, one erase each, for 3 * 256 + 5 reservations.
        let e = nvs.flash_mut().erases;
        assert_eq!(e[2] + e[3], 3, "{e:?}");
        assert_eq!(e[0] + e[1], 0);
    }

    #[test]
    fn lower_value_clears_the_journal() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        CounterStore::store(&mut nvs, 10_240).unwrap();
        CounterStore::store(&mut nvs, 0).unwrap();
        assert_eq!(CounterStore::load(&mut nvs).unwrap(), Some(0));
        CounterStore::store(&mut nvs, 1024).unwrap();
        assert_eq!(CounterStore::load(&mut nvs).unwrap(), Some(1024));
    }

    #[test]
    fn torn_entry_keeps_the_previous_reservation() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        CounterStore::store(&mut nvs, 1024).unwrap();
        nvs.flash_mut().cut_after = Some(6);
        assert!(CounterStore::store(&mut nvs, 2048).is_err());
        // The counter never goes back below a reservation the node may have used.
        assert_eq!(CounterStore::load(&mut nvs).unwrap(), Some(1024));
        CounterStore::store(&mut nvs, 2048).unwrap();
        assert_eq!(CounterStore::load(&mut nvs).unwrap(), Some(2048));
    }

    #[test]
    fn garbage_in_the_journal_is_skipped() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        nvs.flash_mut().bytes[JOURNAL[0] as usize..JOURNAL[0] as usize + 64].fill(0x5A);
        assert_eq!(CounterStore::load(&mut nvs).unwrap(), None);
        CounterStore::store(&mut nvs, 7).unwrap();
        assert_eq!(CounterStore::load(&mut nvs).unwrap(), Some(7));
    }

    #[test]
    fn provisioning_record_in_flash() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        assert_eq!(
            nvs.provision(),
            Err(ProvisionError::Record(provision::Error::Empty))
        );
        let booted = nvs.boot(counting_rng()).unwrap();
        let rec = crate::provision::tests::record_for(&booted.identity.seed());
        nvs.store_provision(&rec).unwrap();
        assert_eq!(nvs.provision(), Ok(rec.clone()));
        let id = booted.identity.node_id().0;
        let sec = rec
            .security(booted.identity, booted.counter, booted.stored, None)
            .unwrap();
        assert_eq!(sec.node_id().0, id);
        // A corrupt record is refused.
        nvs.flash_mut().bytes[PROVISION as usize + 100] ^= 4;
        assert_eq!(
            nvs.provision(),
            Err(ProvisionError::Record(provision::Error::BadChecksum))
        );
    }

    #[test]
    fn too_small_region() {
        assert!(matches!(
            Nvs::new(MemFlash::<4096>::new()),
            Err(FlashError::TooSmall)
        ));
    }
}
