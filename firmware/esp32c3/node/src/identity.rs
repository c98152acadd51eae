//! The node's identity, kept in flash.
//!
//! The record (`hyphae_fw_logic::identity`, host-tested) lives at offset 0 of the `nvs` data
//! partition of the standard ESP-IDF partition table that espflash writes (hyphae does not use
//! ESP-IDF's NVS, so the partition is free).
//!
//! A missing or corrupt record is replaced by a fresh one drawn from the hardware RNG (which is a
//! true RNG while the radio runs). If the partition table or the flash cannot be read, the node
//! runs with an identity derived from its MAC and says so in its log.

use esp_bootloader_esp_idf::partitions::{
    self, DataPartitionSubType, PARTITION_TABLE_MAX_LEN, PartitionType,
};
use esp_storage::FlashStorage;
use hyphae_core::NodeId;

use hyphae_fw_logic::identity::{RECORD_LEN, Record};

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
        && let Some(r) = Record::decode(&rec)
    {
        return Identity {
            id: r.id,
            seed: r.seed,
            source: Source::Flash,
        };
    }
    let mut id = [0u8; 8];
    let mut seed = [0u8; 32];
    random(&mut id);
    random(&mut seed);
    let id = NodeId(id);
    let rec = Record { id, seed }.encode();
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
