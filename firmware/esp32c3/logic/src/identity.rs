//! The identity record the node keeps in flash (the firmware does the flash I/O).
//!
//! Layout, [`RECORD_LEN`] = 50 bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `HYID` |
//! | 4 | format version, 1 |
//! | 5..8 | reserved, 0 |
//! | 8..16 | node id: the first 8 bytes of SHA-256 over the Ed25519 public key of the seed |
//! | 16..48 | secret seed of the node's Ed25519 key (`docs/spec/security.md` §2) |
//! | 48..50 | CRC-16/IBM-3740 of bytes 0..48, little-endian |
//!
//! [`crate::storage::Nvs`] writes it and treats a record whose node id does not derive from its
//! seed (the random ids of the lab-mode firmware before provisioning existed) as absent.

use hyphae_core::NodeId;
use hyphae_link_bridge::record::CRC;

const MAGIC: &[u8; 4] = b"HYID";
const VERSION: u8 = 1;
/// Length of the identity record.
pub const RECORD_LEN: usize = 50;

/// The identity record's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The mesh node id.
    pub id: NodeId,
    /// Secret seed for the node's keys.
    pub seed: [u8; 32],
}

impl Record {
    /// The record's bytes.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut r = [0u8; RECORD_LEN];
        r[..4].copy_from_slice(MAGIC);
        r[4] = VERSION;
        r[8..16].copy_from_slice(&self.id.0);
        r[16..48].copy_from_slice(&self.seed);
        let crc = CRC.checksum(&r[..48]);
        r[48..].copy_from_slice(&crc.to_le_bytes());
        r
    }

    /// Parse a record; `None` if the magic, version, reserved bytes or CRC are wrong (erased
    /// flash reads as all `0xFF` and is rejected).
    pub fn decode(r: &[u8; RECORD_LEN]) -> Option<Self> {
        if &r[..4] != MAGIC || r[4] != VERSION || r[5..8] != [0; 3] {
            return None;
        }
        if CRC.checksum(&r[..48]).to_le_bytes() != [r[48], r[49]] {
            return None;
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&r[8..16]);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&r[16..48]);
        Some(Self {
            id: NodeId(id),
            seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let rec = Record {
            id: NodeId([1, 2, 3, 4, 5, 6, 7, 8]),
            seed: [9; 32],
        };
        let bytes = rec.encode();
        assert_eq!(&bytes[..5], b"HYID\x01");
        assert_eq!(Record::decode(&bytes), Some(rec));
        assert_eq!(Record::decode(&[0xff; RECORD_LEN]), None);
        assert_eq!(Record::decode(&[0; RECORD_LEN]), None);
        for i in 0..RECORD_LEN {
            let mut b = bytes;
            b[i] ^= 0x01;
            assert_eq!(Record::decode(&b), None, "bit flip in byte {i} accepted");
        }
    }
}
