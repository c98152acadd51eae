//! A [`BlobStore`] on the file system: blobs larger than the node's memory live in files.
//!
//! Outgoing blobs are files registered with [`FileStore::add_outgoing`]. An incoming blob is
//! written in place into `<dir>/<sender>-<blob>.part`, with a `.map` file holding one bit per
//! chunk, so a restarted host still knows which chunks it has (the blob layer's resume asks
//! for them). When every chunk is there the part file is renamed to `<dir>/<sender>-<blob>`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use hyphae_core::NodeId;
use hyphae_core::blob::{BlobStore, StoreError};

/// Blobs in a directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    outgoing: HashMap<u32, PathBuf>,
    incoming: HashMap<(NodeId, u32), Incoming>,
    /// Largest total size of partial incoming blobs, bytes.
    quota: u64,
}

#[derive(Debug)]
struct Incoming {
    data: File,
    map_file: File,
    map: Vec<u8>,
    len: u64,
    count: u32,
}

fn hex(id: &NodeId) -> String {
    id.0.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(_: std::io::Error) -> StoreError {
    StoreError::Io
}

impl FileStore {
    /// A store in `dir` (created if missing), accepting at most `quota` bytes of incoming
    /// blobs at once.
    pub fn open(dir: &Path, quota: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            outgoing: HashMap::new(),
            incoming: HashMap::new(),
            quota,
        })
    }

    /// Offer the file at `path` as outgoing blob `blob`; its length.
    pub fn add_outgoing(&mut self, blob: u32, path: &Path) -> std::io::Result<u64> {
        let len = std::fs::metadata(path)?.len();
        self.outgoing.insert(blob, path.to_path_buf());
        Ok(len)
    }

    /// Where a completed incoming blob is.
    pub fn completed_path(&self, from: &NodeId, blob: u32) -> PathBuf {
        self.dir.join(format!("{}-{blob}", hex(from)))
    }

    fn part_path(&self, from: &NodeId, blob: u32) -> PathBuf {
        self.dir.join(format!("{}-{blob}.part", hex(from)))
    }

    fn in_use(&self) -> u64 {
        self.incoming.values().map(|i| i.len).sum()
    }
}

impl BlobStore for FileStore {
    fn read(&mut self, blob: u32, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        let path = self.outgoing.get(&blob).ok_or(StoreError::Unknown)?;
        let f = File::open(path).map_err(io)?;
        let mut n = 0;
        while n < buf.len() {
            let r = f.read_at(&mut buf[n..], offset + n as u64).map_err(io)?;
            if r == 0 {
                break;
            }
            n += r;
        }
        Ok(n)
    }

    fn begin(&mut self, from: NodeId, blob: u32, len: u64, count: u32) -> Result<(), StoreError> {
        if self.incoming.contains_key(&(from, blob)) {
            return Ok(());
        }
        if self.in_use().saturating_add(len) > self.quota {
            return Err(StoreError::Full);
        }
        let part = self.part_path(&from, blob);
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .map_err(io)?;
        let existing = data.metadata().map_err(io)?.len();
        if existing != len {
            // New (or from another blob of the same id and a different size): start over.
            data.set_len(len).map_err(io)?;
        }
        let map_len = (count as usize).div_ceil(8);
        let map_path = part.with_extension("map");
        let map_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&map_path)
            .map_err(io)?;
        let mut map = vec![0u8; map_len];
        if existing == len && map_file.metadata().map_err(io)?.len() == map_len as u64 {
            map_file.read_exact_at(&mut map, 0).map_err(io)?;
        } else {
            map_file.set_len(0).map_err(io)?;
            map_file.set_len(map_len as u64).map_err(io)?;
        }
        self.incoming.insert(
            (from, blob),
            Incoming {
                data,
                map_file,
                map,
                len,
                count,
            },
        );
        Ok(())
    }

    fn has(&self, from: NodeId, blob: u32, index: u32) -> bool {
        self.incoming.get(&(from, blob)).is_some_and(|i| {
            i.map
                .get((index / 8) as usize)
                .is_some_and(|b| b & (1 << (index % 8)) != 0)
        })
    }

    fn write(
        &mut self,
        from: NodeId,
        blob: u32,
        index: u32,
        offset: u64,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let i = self
            .incoming
            .get_mut(&(from, blob))
            .ok_or(StoreError::Unknown)?;
        let byte = (index / 8) as usize;
        if index >= i.count || byte >= i.map.len() || offset + data.len() as u64 > i.len {
            return Err(StoreError::Unknown);
        }
        i.data.write_all_at(data, offset).map_err(io)?;
        // Data first, then the bit: a crash in between costs a chunk, never a hole.
        i.data.sync_data().map_err(io)?;
        i.map[byte] |= 1 << (index % 8);
        i.map_file
            .write_all_at(&i.map[byte..=byte], byte as u64)
            .map_err(io)?;
        Ok(())
    }

    fn finish(&mut self, from: NodeId, blob: u32) -> Result<(), StoreError> {
        let part = self.part_path(&from, blob);
        self.incoming
            .remove(&(from, blob))
            .ok_or(StoreError::Unknown)?;
        std::fs::rename(&part, self.completed_path(&from, blob)).map_err(io)?;
        let _ = std::fs::remove_file(part.with_extension("map"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u8) -> NodeId {
        NodeId([i; 8])
    }

    #[test]
    fn chunks_survive_a_restart_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let src = dir.path().join("src.bin");
        std::fs::write(&src, &data).unwrap();
        let mut out = FileStore::open(&dir.path().join("out"), 1 << 20).unwrap();
        assert_eq!(out.add_outgoing(1, &src).unwrap(), 10_000);
        let mut buf = vec![0u8; 4000];
        assert_eq!(out.read(1, 8000, &mut buf).unwrap(), 2000);
        assert_eq!(&buf[..2000], &data[8000..]);
        assert_eq!(out.read(2, 0, &mut buf), Err(StoreError::Unknown));

        let inbox = dir.path().join("in");
        let mut s = FileStore::open(&inbox, 1 << 20).unwrap();
        s.begin(node(1), 1, 10_000, 3).unwrap();
        s.write(node(1), 1, 0, 0, &data[..3334]).unwrap();
        s.write(node(1), 1, 2, 6668, &data[6668..]).unwrap();
        assert!(s.has(node(1), 1, 0) && !s.has(node(1), 1, 1) && s.has(node(1), 1, 2));
        drop(s);
        // A restarted host finds its chunks again.
        let mut s = FileStore::open(&inbox, 1 << 20).unwrap();
        s.begin(node(1), 1, 10_000, 3).unwrap();
        assert!(s.has(node(1), 1, 0) && !s.has(node(1), 1, 1) && s.has(node(1), 1, 2));
        s.write(node(1), 1, 1, 3334, &data[3334..6668]).unwrap();
        s.finish(node(1), 1).unwrap();
        assert_eq!(std::fs::read(s.completed_path(&node(1), 1)).unwrap(), data);
        assert!(!inbox.join(format!("{}-1.part", hex(&node(1)))).exists());
    }

    #[test]
    fn quota_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStore::open(dir.path(), 1000).unwrap();
        assert_eq!(s.begin(node(1), 1, 2000, 2), Err(StoreError::Full));
        s.begin(node(1), 2, 800, 1).unwrap();
        assert_eq!(s.begin(node(2), 3, 300, 1), Err(StoreError::Full));
        assert_eq!(s.write(node(1), 2, 5, 0, &[1]), Err(StoreError::Unknown));
        assert_eq!(
            s.write(node(1), 2, 0, 790, &[0; 20]),
            Err(StoreError::Unknown)
        );
        assert_eq!(s.write(node(9), 2, 0, 0, &[0]), Err(StoreError::Unknown));
    }
}
