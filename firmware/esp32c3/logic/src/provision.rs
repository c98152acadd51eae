//! The provisioning record: what a node needs besides its identity to join a secure mesh — the
//! network name and key, its admin-signed credential and the admin public keys
//! (`docs/spec/security.md` §16, normative). The admin's tool writes it
//! (`hyphae security flash-record`), `espflash write-bin` puts it into the node's flash, the
//! firmware reads it at boot ([`crate::storage::Nvs::provision`]).
//!
//! Layout, [`RECORD_LEN`] = 308 bytes, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `HYPV` |
//! | 4 | format version, 1 |
//! | 5 | network key generation, 0..=63 |
//! | 6 | network name length L, 1..=32 |
//! | 7 | admin key count N, 1..=4 |
//! | 8..40 | network name (L bytes, then zeros) |
//! | 40..72 | network key |
//! | 72..175 | the node's credential (`security.md` §3.2) |
//! | 175 | reserved, 0 |
//! | 176..304 | admin public keys, 4 slots of 32 bytes by admin index (slots ≥ N zero) |
//! | 304..308 | CRC-32/ISO-HDLC of bytes 0..304 |
//!
//! [`Record::decode`] never panics on any input and rejects every record whose bytes are not
//! exactly those [`Record::encode`] produces for some valid [`Record`].

use core::fmt;

use hyphae_core::security::hyphae_crypto::{
    self, AdminKeys, FrameCounter, Identity, NetworkKey, NodeSecurity, PublicIdentity, Suite,
    control::network_id, credential::CREDENTIAL_LEN,
};
use hyphae_core::security::{MAX_ADMINS, Security};

const MAGIC: &[u8; 4] = b"HYPV";
const VERSION: u8 = 1;
/// Length of the provisioning record.
pub const RECORD_LEN: usize = 308;
/// Longest network name.
pub const MAX_NAME: usize = 32;
/// Admin key slots in the record.
pub const ADMIN_SLOTS: usize = 4;
/// Highest network key generation.
pub const MAX_GENERATION: u8 = 63;

mod field {
    use core::ops::Range;
    pub(super) const MAGIC: Range<usize> = 0..4;
    pub(super) const VERSION: usize = 4;
    pub(super) const GENERATION: usize = 5;
    pub(super) const NAME_LEN: usize = 6;
    pub(super) const ADMINS: usize = 7;
    pub(super) const NAME: Range<usize> = 8..40;
    pub(super) const KEY: Range<usize> = 40..72;
    pub(super) const CREDENTIAL: Range<usize> = 72..175;
    pub(super) const RESERVED: usize = 175;
    pub(super) const ADMIN_KEYS: Range<usize> = 176..304;
    pub(super) const CRC: Range<usize> = 304..308;
}

// The record must hold every admin the core can trust, and the firmware writes whole words.
const _: () = assert!(ADMIN_SLOTS >= MAX_ADMINS);
const _: () = assert!(field::CREDENTIAL.end - field::CREDENTIAL.start == CREDENTIAL_LEN);
const _: () = assert!(field::CRC.end == RECORD_LEN && RECORD_LEN.is_multiple_of(4));

/// CRC of the provisioning record (the one of zlib, so any tool can check it).
pub const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Why a provisioning record is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The flash holds no record (erased: every byte `0xFF`). The node is unprovisioned.
    Empty,
    /// Not a provisioning record (wrong magic).
    BadMagic,
    /// A record of a format version this firmware does not know.
    UnsupportedVersion(u8),
    /// The CRC does not match: a corrupt or torn record.
    BadChecksum,
    /// A field is out of range (generation, name length, admin count, non-zero padding).
    BadValue,
    /// Wrong length (the record is exactly [`RECORD_LEN`] bytes).
    Truncated,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("its flash sector is erased"),
            Self::BadMagic => f.write_str("not a provisioning record (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported record version {v}"),
            Self::BadChecksum => f.write_str("bad CRC (corrupt record)"),
            Self::BadValue => f.write_str("a field is out of range"),
            Self::Truncated => write!(f, "a record is exactly {RECORD_LEN} bytes"),
        }
    }
}

impl core::error::Error for Error {}

/// A provisioning record's content. Exists only if it can be encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    name: [u8; MAX_NAME],
    name_len: u8,
    generation: u8,
    key: [u8; 32],
    credential: [u8; CREDENTIAL_LEN],
    admins: [[u8; 32]; ADMIN_SLOTS],
    admin_count: u8,
}

impl fmt::Debug for Record {
    // The network key is secret: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("network", &self.network())
            .field("generation", &self.generation)
            .field("admins", &self.admin_count)
            .finish_non_exhaustive()
    }
}

impl Record {
    /// A record for network `name` (1..=32 bytes) with key `key` of `generation` (0..=63), the
    /// node's `credential` and the admin public keys by index (1..=4). The pieces are checked
    /// for shape only; [`Record::security`] verifies the credential and the keys.
    pub fn new(
        name: &[u8],
        key: [u8; 32],
        generation: u8,
        credential: [u8; CREDENTIAL_LEN],
        admins: &[[u8; 32]],
    ) -> Result<Self, Error> {
        if name.is_empty()
            || name.len() > MAX_NAME
            || generation > MAX_GENERATION
            || admins.is_empty()
            || admins.len() > MAX_ADMINS
        {
            return Err(Error::BadValue);
        }
        let mut n = [0u8; MAX_NAME];
        n[..name.len()].copy_from_slice(name);
        let mut a = [[0u8; 32]; ADMIN_SLOTS];
        a[..admins.len()].copy_from_slice(admins);
        Ok(Self {
            name: n,
            name_len: name.len() as u8,
            generation,
            key,
            credential,
            admins: a,
            admin_count: admins.len() as u8,
        })
    }

    /// The record's bytes.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut r = [0u8; RECORD_LEN];
        r[field::MAGIC].copy_from_slice(MAGIC);
        r[field::VERSION] = VERSION;
        r[field::GENERATION] = self.generation;
        r[field::NAME_LEN] = self.name_len;
        r[field::ADMINS] = self.admin_count;
        r[field::NAME].copy_from_slice(&self.name);
        r[field::KEY].copy_from_slice(&self.key);
        r[field::CREDENTIAL].copy_from_slice(&self.credential);
        for (slot, key) in r[field::ADMIN_KEYS].chunks_exact_mut(32).zip(&self.admins) {
            slot.copy_from_slice(key);
        }
        let crc = CRC32.checksum(&r[..field::CRC.start]);
        r[field::CRC].copy_from_slice(&crc.to_le_bytes());
        r
    }

    /// Parse a record read from flash. Checks, in order: length, erased, magic, version, CRC,
    /// then every field's range and zero padding.
    pub fn decode(r: &[u8]) -> Result<Self, Error> {
        let Ok(r) = <&[u8; RECORD_LEN]>::try_from(r) else {
            return Err(Error::Truncated);
        };
        if r.iter().all(|b| *b == 0xFF) {
            return Err(Error::Empty);
        }
        if &r[field::MAGIC] != MAGIC {
            return Err(Error::BadMagic);
        }
        if r[field::VERSION] != VERSION {
            return Err(Error::UnsupportedVersion(r[field::VERSION]));
        }
        let crc = CRC32.checksum(&r[..field::CRC.start]).to_le_bytes();
        if r[field::CRC] != crc {
            return Err(Error::BadChecksum);
        }
        let name_len = usize::from(r[field::NAME_LEN]);
        let admin_count = usize::from(r[field::ADMINS]);
        let name = &r[field::NAME];
        let admins = &r[field::ADMIN_KEYS];
        if !(1..=MAX_NAME).contains(&name_len)
            || !(1..=MAX_ADMINS).contains(&admin_count)
            || r[field::RESERVED] != 0
            || name[name_len..].iter().any(|b| *b != 0)
            || admins[admin_count * 32..].iter().any(|b| *b != 0)
        {
            return Err(Error::BadValue);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&r[field::KEY]);
        let mut credential = [0u8; CREDENTIAL_LEN];
        credential.copy_from_slice(&r[field::CREDENTIAL]);
        let mut keys = [[0u8; 32]; MAX_ADMINS];
        for (k, slot) in keys.iter_mut().zip(admins.chunks_exact(32)) {
            k.copy_from_slice(slot);
        }
        Self::new(
            &name[..name_len],
            key,
            r[field::GENERATION],
            credential,
            &keys[..admin_count],
        )
    }

    /// The network name.
    pub fn network(&self) -> &[u8] {
        &self.name[..usize::from(self.name_len)]
    }

    /// The network key generation.
    pub fn generation(&self) -> u8 {
        self.generation
    }

    /// The node's credential.
    pub fn credential(&self) -> &[u8; CREDENTIAL_LEN] {
        &self.credential
    }

    /// The admin public keys, by index.
    pub fn admins(&self) -> &[[u8; 32]] {
        &self.admins[..usize::from(self.admin_count)]
    }

    /// The node's security context: the credential must verify against the admins and the
    /// network and belong to `identity` (a re-flashed node with a new identity needs a new
    /// credential: [`hyphae_crypto::Error::IdMismatch`]). `counter` and `stored` come from
    /// [`crate::storage::Nvs::boot`]; `now` is the network time if known (expiry check).
    pub fn security(
        &self,
        identity: Identity,
        counter: FrameCounter,
        stored: u64,
        now: Option<u32>,
    ) -> Result<Security, hyphae_crypto::Error> {
        let mut admins = AdminKeys::<MAX_ADMINS>::new();
        for (i, a) in self.admins().iter().enumerate() {
            admins.set(i as u8, PublicIdentity::from_bytes(a)?);
        }
        let inner = NodeSecurity::new(
            identity,
            counter,
            &self.credential,
            admins,
            network_id(self.network()),
            &NetworkKey::new(self.key, self.generation),
            Suite::default(),
            now,
        )?;
        Ok(Security::new(inner, stored))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hyphae_crypto::{Credential, MemoryCounterStore, roles};
    use proptest::prelude::*;

    /// A network "lab" administered by seed [1; 32], and a record for the node of `node_seed`.
    pub(crate) fn record_for(node_seed: &[u8; 32]) -> Record {
        let admin = Identity::from_seed(&[1; 32]);
        let node = Identity::from_seed(node_seed);
        let cred = Credential::issue(
            &admin,
            0,
            &network_id(b"lab"),
            node.public(),
            roles::ROUTER,
            u32::MAX,
        );
        let mut c = [0u8; CREDENTIAL_LEN];
        cred.emit(&mut c).unwrap();
        Record::new(b"lab", [7; 32], 3, c, &[admin.public().to_bytes()]).unwrap()
    }

    fn counter() -> FrameCounter {
        FrameCounter::resume(&mut MemoryCounterStore::new(), 1).unwrap()
    }

    #[test]
    fn round_trip_and_layout() {
        let rec = record_for(&[2; 32]);
        let b = rec.encode();
        assert_eq!(&b[..8], b"HYPV\x01\x03\x03\x01");
        assert_eq!(&b[8..11], b"lab");
        assert_eq!(b[40], 7);
        assert_eq!(
            u32::from_le_bytes([b[304], b[305], b[306], b[307]]),
            CRC32.checksum(&b[..304])
        );
        assert_eq!(Record::decode(&b), Ok(rec.clone()));
        assert_eq!(rec.network(), b"lab");
        assert_eq!(rec.generation(), 3);
        assert_eq!(rec.admins().len(), 1);
    }

    #[test]
    fn rejects() {
        let b = record_for(&[2; 32]).encode();
        assert_eq!(Record::decode(&[0xFF; RECORD_LEN]), Err(Error::Empty));
        assert_eq!(Record::decode(&[0; RECORD_LEN]), Err(Error::BadMagic));
        assert_eq!(Record::decode(&b[..RECORD_LEN - 1]), Err(Error::Truncated));
        let mut v = b;
        v[4] = 2;
        assert_eq!(Record::decode(&v), Err(Error::UnsupportedVersion(2)));
        for i in 0..RECORD_LEN {
            for bit in 0..8 {
                let mut c = b;
                c[i] ^= 1 << bit;
                assert!(Record::decode(&c).is_err(), "flip of bit {bit} of byte {i}");
            }
        }
        // Out-of-range fields under a valid CRC.
        let reseal = |mut r: [u8; RECORD_LEN]| {
            let crc = CRC32.checksum(&r[..304]);
            r[304..].copy_from_slice(&crc.to_le_bytes());
            r
        };
        for (i, v) in [
            (5, 64),
            (6, 0),
            (6, 33),
            (7, 0),
            (7, 5),
            (175, 1),
            (20, 1),
            (250, 1),
        ] {
            let mut c = b;
            c[i] = v;
            assert_eq!(
                Record::decode(&reseal(c)),
                Err(Error::BadValue),
                "byte {i} = {v}"
            );
        }
    }

    #[test]
    fn new_checks_shapes() {
        let c = *record_for(&[2; 32]).credential();
        assert_eq!(
            Record::new(b"", [0; 32], 0, c, &[[0; 32]]),
            Err(Error::BadValue)
        );
        assert_eq!(
            Record::new(&[b'x'; 33], [0; 32], 0, c, &[[0; 32]]),
            Err(Error::BadValue)
        );
        assert_eq!(
            Record::new(b"n", [0; 32], 64, c, &[[0; 32]]),
            Err(Error::BadValue)
        );
        assert_eq!(Record::new(b"n", [0; 32], 0, c, &[]), Err(Error::BadValue));
        assert_eq!(
            Record::new(b"n", [0; 32], 0, c, &[[0; 32]; 5]),
            Err(Error::BadValue)
        );
        assert!(Record::new(&[b'x'; 32], [0; 32], 63, c, &[[0; 32]; 4]).is_ok());
    }

    #[test]
    fn security_for_its_identity_only() {
        let rec = record_for(&[2; 32]);
        let sec = rec
            .security(Identity::from_seed(&[2; 32]), counter(), 0, None)
            .unwrap();
        assert_eq!(sec.node_id().0, Identity::from_seed(&[2; 32]).node_id().0);
        // A re-flashed node (new identity) needs a new credential.
        assert_eq!(
            rec.security(Identity::from_seed(&[3; 32]), counter(), 0, None)
                .err(),
            Some(hyphae_crypto::Error::IdMismatch)
        );
        // The network key is never printed.
        assert!(!format!("{rec:?}").contains("7, 7"));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Record::decode(&bytes);
        }

        #[test]
        fn random_records_rejected(mut bytes in proptest::collection::vec(any::<u8>(), RECORD_LEN)) {
            // Random bytes are refused even with the right magic and version.
            bytes[..5].copy_from_slice(b"HYPV\x01");
            prop_assert!(Record::decode(&bytes).is_err());
        }

        #[test]
        fn any_corruption_rejected(i in 0..RECORD_LEN, x in 1..=255u8) {
            let b = record_for(&[2; 32]).encode();
            let mut c = b;
            c[i] ^= x;
            prop_assert!(Record::decode(&c).is_err());
        }

        #[test]
        fn round_trips(
            name in proptest::collection::vec(any::<u8>(), 1..=MAX_NAME),
            generation in 0..=MAX_GENERATION,
            key in any::<[u8; 32]>(),
            n in 1..=MAX_ADMINS,
            admin in any::<[u8; 32]>(),
        ) {
            let admins = [admin; MAX_ADMINS];
            let rec = Record::new(&name, key, generation, [9; CREDENTIAL_LEN], &admins[..n]).unwrap();
            prop_assert_eq!(Record::decode(&rec.encode()), Ok(rec));
        }
    }
}
