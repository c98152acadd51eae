//! The blob layer fed arbitrary messages from a few senders, against a bounded in-memory store:
//! it must never panic, and nothing it stores may exceed the admitted blob.
#![no_main]

use hyphae_core::blob::{BlobStore, Blobs, StoreError};
use hyphae_core::{AppId, Instant, NodeId};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Store {
    blobs: Vec<(NodeId, u32, Vec<u8>, Vec<bool>)>,
}

impl BlobStore for Store {
    fn read(&mut self, _: u32, _: u64, _: &mut [u8]) -> Result<usize, StoreError> {
        Err(StoreError::Unknown)
    }
    fn begin(&mut self, from: NodeId, blob: u32, len: u64, count: u32) -> Result<(), StoreError> {
        if len > 1 << 16 || self.blobs.len() >= 8 {
            return Err(StoreError::Full);
        }
        if !self.blobs.iter().any(|b| b.0 == from && b.1 == blob) {
            self.blobs.push((from, blob, vec![0; len as usize], vec![false; count as usize]));
        }
        Ok(())
    }
    fn has(&self, from: NodeId, blob: u32, index: u32) -> bool {
        self.blobs
            .iter()
            .any(|b| b.0 == from && b.1 == blob && b.3.get(index as usize) == Some(&true))
    }
    fn write(&mut self, from: NodeId, blob: u32, index: u32, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let b = self
            .blobs
            .iter_mut()
            .find(|b| b.0 == from && b.1 == blob)
            .ok_or(StoreError::Unknown)?;
        let end = offset as usize + data.len();
        assert!(end <= b.2.len(), "write beyond the admitted blob");
        b.2[offset as usize..end].copy_from_slice(data);
        b.3[index as usize] = true;
        Ok(())
    }
    fn finish(&mut self, _: NodeId, _: u32) -> Result<(), StoreError> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut layer = Blobs::new(AppId(1), 512, 1 << 16);
    let mut store = Store::default();
    // Length-prefixed messages, each from one of four senders.
    let mut rest = data;
    let mut t = 0;
    while let [len, from, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        t += 1;
        layer.on_delivery(Instant::from_millis(t), NodeId([from & 3; 8]), &tail[..n], &mut store);
        rest = &tail[n..];
    }
    while layer.poll_event().is_some() {}
});
