//! The key storage's flash: the `nvs` data partition of the standard ESP-IDF partition table
//! that espflash writes (0x9000, 24 KiB; hyphae does not use ESP-IDF's NVS, so the partition is
//! free). Everything about its content (identity, counter journal, provisioning record) lives
//! in the host-tested `hyphae_fw_logic::storage`; this file only moves bytes.

use esp_bootloader_esp_idf::partitions::{
    self, DataPartitionSubType, PARTITION_TABLE_MAX_LEN, PartitionType,
};
use esp_storage::FlashStorage;
use hyphae_fw_logic::storage::{Flash, FlashError, SECTOR};

/// The `nvs` partition as a [`Flash`] region.
pub struct NvsFlash<'a, 'd> {
    flash: &'a mut FlashStorage<'d>,
    base: u32,
    len: u32,
}

impl<'a, 'd> NvsFlash<'a, 'd> {
    /// Find the `nvs` partition; `None` if the partition table cannot be read or has none.
    pub fn open(flash: &'a mut FlashStorage<'d>) -> Option<Self> {
        let mut table_buf = [0u8; PARTITION_TABLE_MAX_LEN];
        let table = partitions::read_partition_table(flash, &mut table_buf).ok()?;
        let nvs = table
            .find_partition(PartitionType::Data(DataPartitionSubType::Nvs))
            .ok()??;
        let (base, len) = (nvs.offset(), nvs.len());
        Some(Self { flash, base, len })
    }

    /// Absolute flash address of `offset` in the partition (for `espflash write-bin`).
    pub fn address(&self, offset: u32) -> u32 {
        self.base + offset
    }

    fn at(&self, offset: u32, len: usize) -> Result<u32, FlashError> {
        let end = offset
            .checked_add(u32::try_from(len).map_err(|_| FlashError::OutOfBounds)?)
            .ok_or(FlashError::OutOfBounds)?;
        if end > self.len {
            return Err(FlashError::OutOfBounds);
        }
        Ok(self.base + offset)
    }
}

impl Flash for NvsFlash<'_, '_> {
    fn capacity(&self) -> u32 {
        self.len
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let a = self.at(offset, buf.len())?;
        self.flash.read(a, buf).map_err(|_| FlashError::Device)
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let a = self.at(offset, data.len())?;
        self.flash
            .write_nor(a, data)
            .map_err(|_| FlashError::Device)
    }

    fn erase(&mut self, offset: u32) -> Result<(), FlashError> {
        let a = self.at(offset, SECTOR as usize)?;
        self.flash
            .erase(a, a + SECTOR)
            .map_err(|_| FlashError::Device)
    }
}
