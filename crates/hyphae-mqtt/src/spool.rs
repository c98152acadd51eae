//! A bounded on-disk FIFO of MQTT messages for when the broker is unreachable.
//!
//! Records are appended to one file (`spool.bin` in the spool directory); an in-memory index
//! holds their offsets. When the bound (messages or bytes) is reached, new messages are counted
//! as dropped and discarded — the oldest are kept, so a flush replays an unbroken prefix of the
//! stream in order. The file is truncated once it has been flushed completely, and re-read on
//! start, so messages spooled before a gateway restart are published after it.
//!
//! Record: `A5 (5A once flushed) | qos u8 | retain u8 | topic length u16 LE | payload length u32 LE | topic | payload`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::gateway::MqttMessage;

const MAGIC: u8 = 0xA5;
/// Written over the magic byte of a record once it has been flushed.
const DONE: u8 = 0x5A;
const HEADER: usize = 9;

/// The spool.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: File,
    index: VecDeque<(u64, u32)>,
    end: u64,
    bytes: u64,
    max_messages: usize,
    max_bytes: u64,
    dropped: u64,
}

impl Spool {
    /// Open (or create) the spool in `dir`, keeping at most `max_messages` messages and
    /// `max_bytes` bytes of records.
    pub fn open(dir: &Path, max_messages: usize, max_bytes: u64) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("spool.bin");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let mut index = VecDeque::new();
        let mut pos = 0usize;
        // Rebuild the index; a torn record at the end (crash mid-write) is cut off.
        let mut live = 0u64;
        while let Some((len, alive)) = record_len(&data[pos..]) {
            if alive {
                // Cannot truncate: record lengths are bounded by u16 + u32 + header.
                index.push_back((pos as u64, len as u32));
                live += len as u64;
            }
            pos += len;
        }
        if pos < data.len() {
            file.set_len(pos as u64)?;
        }
        let end = pos as u64;
        Ok(Self {
            path,
            file,
            bytes: live,
            end,
            index,
            max_messages,
            max_bytes,
            dropped: 0,
        })
    }

    /// Where the records live.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Messages refused because the spool was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Append a message; `Ok(false)` (and one more drop counted) when the bound is reached.
    pub fn push(&mut self, m: &MqttMessage) -> io::Result<bool> {
        let len = HEADER + m.topic.len() + m.payload.len();
        if self.index.len() >= self.max_messages
            || self.bytes + len as u64 > self.max_bytes
            || m.topic.len() > usize::from(u16::MAX)
            || m.payload.len() > u32::MAX as usize
        {
            self.dropped += 1;
            return Ok(false);
        }
        let mut rec = Vec::with_capacity(len);
        rec.push(MAGIC);
        rec.push(m.qos);
        rec.push(u8::from(m.retain));
        // Both lengths checked above.
        rec.extend_from_slice(&(m.topic.len() as u16).to_le_bytes());
        rec.extend_from_slice(&(m.payload.len() as u32).to_le_bytes());
        rec.extend_from_slice(m.topic.as_bytes());
        rec.extend_from_slice(&m.payload);
        self.file.seek(SeekFrom::Start(self.end))?;
        self.file.write_all(&rec)?;
        self.index.push_back((self.end, len as u32));
        self.end += len as u64;
        self.bytes += len as u64;
        Ok(true)
    }

    /// The oldest message, without removing it.
    pub fn front(&mut self) -> io::Result<Option<MqttMessage>> {
        let Some(&(off, len)) = self.index.front() else {
            return Ok(None);
        };
        let mut rec = vec![0u8; len as usize];
        self.file.seek(SeekFrom::Start(off))?;
        self.file.read_exact(&mut rec)?;
        let tl = usize::from(u16::from_le_bytes([rec[3], rec[4]]));
        let topic = String::from_utf8(rec[HEADER..HEADER + tl].to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "spool topic not UTF-8"))?;
        Ok(Some(MqttMessage {
            topic,
            payload: rec[HEADER + tl..].to_vec(),
            qos: rec[1],
            retain: rec[2] != 0,
        }))
    }

    /// Remove the oldest message; the file is truncated when the spool becomes empty.
    pub fn pop(&mut self) -> io::Result<()> {
        if let Some((off, len)) = self.index.pop_front() {
            self.bytes -= u64::from(len);
            if !self.index.is_empty() {
                // Mark it flushed so a restart does not publish it again.
                self.file.seek(SeekFrom::Start(off))?;
                self.file.write_all(&[DONE])?;
            }
        }
        if self.index.is_empty() {
            self.file.set_len(0)?;
            self.end = 0;
            self.bytes = 0;
        }
        Ok(())
    }
}

/// Length of the complete record at the front of `b`, if there is one.
fn record_len(b: &[u8]) -> Option<(usize, bool)> {
    if b.len() < HEADER || (b[0] != MAGIC && b[0] != DONE) {
        return None;
    }
    let tl = usize::from(u16::from_le_bytes([b[3], b[4]]));
    let pl = u32::from_le_bytes([b[5], b[6], b[7], b[8]]) as usize;
    let len = HEADER.checked_add(tl)?.checked_add(pl)?;
    (b.len() >= len && core::str::from_utf8(&b[HEADER..HEADER + tl]).is_ok())
        .then_some((len, b[0] == MAGIC))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize) -> MqttMessage {
        MqttMessage {
            topic: format!("t/{i}"),
            payload: vec![i as u8; i % 7],
            qos: 1,
            retain: i.is_multiple_of(2),
        }
    }

    #[test]
    fn fifo_bound_drop_count_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 5, 1 << 20).unwrap();
        for i in 0..8 {
            s.push(&msg(i)).unwrap();
        }
        assert_eq!((s.len(), s.dropped()), (5, 3));
        assert_eq!(s.front().unwrap(), Some(msg(0)));
        s.pop().unwrap();
        drop(s);
        // Reopen: the four remaining come back in order.
        let mut s = Spool::open(dir.path(), 5, 1 << 20).unwrap();
        for i in 1..5 {
            assert_eq!(s.front().unwrap(), Some(msg(i)));
            s.pop().unwrap();
        }
        assert!(s.is_empty());
        assert_eq!(std::fs::metadata(s.path()).unwrap().len(), 0);
    }

    #[test]
    fn byte_bound_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 100, 30).unwrap();
        assert!(s.push(&msg(6)).unwrap());
        assert!(!s.push(&msg(6)).unwrap());
        drop(s);
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("spool.bin"))
            .unwrap();
        f.write_all(&[MAGIC, 1, 0, 200]).unwrap();
        let mut s = Spool::open(dir.path(), 100, 1000).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.front().unwrap(), Some(msg(6)));
    }
}
