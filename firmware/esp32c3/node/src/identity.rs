//! The node's identity, kept in flash.
//!
//! The record lives at offset 0 of the `nvs` data partition of the standard ESP-IDF partition
//! table that espflash writes (hyphae does not use ESP-IDF's NVS, so the partition is free).
//! Layout, 50 bytes, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `HYID` |
//! | 4 | format version, 1 |
//! | 5..8 | reserved, 0 |
//! | 8..16 | node id |
//! | 16..48 | secret seed (for the node's long-term keys) |
//! | 48..50 | CRC-16/IBM-3740 of bytes 0..48 |
//!
//! A missing or corrupt record is replaced by a fresh one drawn from the hardware RNG (which is a
//! true RNG while the radio runs). If the partition table or the flash cannot be read, the node
//! runs with an identity derived from its MAC and says so in its log.

use esp_bootloader_esp_idf::partitions::{
    self, DataPartitionSubType, PARTITION_TABLE_MAX_LEN, PartitionType,
};
use esp_storage::FlashStorage;
use hyphae_core::NodeId;
use hyphae_link_bridge::record::CRC;

const MAGIC: &[u8; 4] = b"HYID";
const VERSION: u8 = 1;
/// Length of the identity record.
pub const RECORD_LEN: usize = 50;

/// Where the identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read back from flash.
    Flash,
    /// Generated now and written to flash.
    Created,
    /// Flash unusable: derived from the MAC, not persisted.
    Ephemeral,
}

/// The node's long-term identity.
#[derive(Clone, Copy)]
pub struct Identity {
    /// The mesh node id.
    pub id: NodeId,
    /// Secret seed for the node's keys (not used by the firmware yet).
    pub seed: [u8; 32],
    /// Where it came from.
    pub source: Source,
}

fn encode(id: &NodeId, seed: &[u8; 32]) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[..4].copy_from_slice(MAGIC);
    r[4] = VERSION;
    r[8..16].copy_from_slice(&id.0);
    r[16..48].copy_from_slice(seed);
    let crc = CRC.checksum(&r[..48]);
    r[48..].copy_from_slice(&crc.to_le_bytes());
    r
}

fn decode(r: &[u8; RECORD_LEN]) -> Option<(NodeId, [u8; 32])> {
    if &r[..4] != MAGIC || r[4] != VERSION {
        return None;
    }
    if CRC.checksum(&r[..48]).to_le_bytes() != [r[48], r[49]] {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&r[8..16]);
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&r[16..48]);
    Some((NodeId(id), seed))
}

/// Load the identity from flash, creating it on first boot.
pub fn load_or_create(
    flash: &mut FlashStorage<'_>,
    mac: [u8; 6],
    random: impl Fn(&mut [u8]),
) -> Identity {
    let mut table_buf = [0u8; PARTITION_TABLE_MAX_LEN];
    let ephemeral = || {
        let mut id = [0u8; 8];
        id[..6].copy_from_slice(&mac);
        Identity {
            id: NodeId(id),
            seed: [0; 32],
            source: Source::Ephemeral,
        }
    };
    let Ok(table) = partitions::read_partition_table(flash, &mut table_buf) else {
        return ephemeral();
    };
    let Ok(Some(nvs)) = table.find_partition(PartitionType::Data(DataPartitionSubType::Nvs)) else {
        return ephemeral();
    };
    let mut region = nvs.as_flash_region(flash);
    let mut rec = [0u8; RECORD_LEN];
    if region.read(0, &mut rec).is_ok()
        && let Some((id, seed)) = decode(&rec)
    {
        return Identity {
            id,
            seed,
            source: Source::Flash,
        };
    }
    let mut id = [0u8; 8];
    let mut seed = [0u8; 32];
    random(&mut id);
    random(&mut seed);
    let id = NodeId(id);
    let rec = encode(&id, &seed);
    let mut back = [0u8; RECORD_LEN];
    if region.write(0, &rec).is_err() || region.read(0, &mut back).is_err() || back != rec {
        return ephemeral();
    }
    Identity {
        id,
        seed,
        source: Source::Created,
    }
}
