//! Service announcements (`frames.md` §5.4).

use core::fmt;

use crate::address::NodeId;
use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};
use crate::package::AppId;

/// Most entries one announcement carries.
pub const MAX_ENTRIES: usize = 8;
/// Longest service name in bytes.
pub const MAX_NAME: usize = 32;

/// One announced service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry<'a> {
    /// The application serving it.
    pub app: AppId,
    /// Service name, 1..=32 bytes of UTF-8 (e.g. `mqtt-gateway`).
    pub name: &'a str,
}

/// The meaning of a Service body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Who provides the services.
    pub provider: NodeId,
    /// Announcement sequence number (newer replaces older).
    pub seq: u16,
    /// Validity in units of 10 s.
    pub ttl: u8,
    count: u8,
    entries: [Option<Entry<'a>>; MAX_ENTRIES],
}

impl<'a> Repr<'a> {
    /// An announcement with no entries.
    pub fn new(provider: NodeId, seq: u16, ttl: u8) -> Self {
        Self {
            provider,
            seq,
            ttl,
            count: 0,
            entries: [None; MAX_ENTRIES],
        }
    }

    /// Add an entry; `Err(TooLong)` beyond [`MAX_ENTRIES`] or for a bad name length.
    pub fn push(&mut self, entry: Entry<'a>) -> Result<()> {
        if entry.name.is_empty() || entry.name.len() > MAX_NAME {
            return Err(Error::TooLong);
        }
        let slot = self
            .entries
            .get_mut(usize::from(self.count))
            .ok_or(Error::TooLong)?;
        *slot = Some(entry);
        self.count += 1;
        Ok(())
    }

    /// The entries.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        self.entries.iter().flatten().copied()
    }

    /// Parse a Service body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let provider = NodeId(r.array()?);
        let seq = r.u16()?;
        let ttl = r.u8()?;
        let mut s = Self::new(provider, seq, ttl);
        let n = r.u8()?;
        if usize::from(n) > MAX_ENTRIES {
            return Err(Error::BadLength);
        }
        for _ in 0..n {
            let app = AppId::new(r.u16()?).ok_or(Error::Malformed)?;
            let len = usize::from(r.u8()?);
            if len == 0 || len > MAX_NAME {
                return Err(Error::BadLength);
            }
            let name = core::str::from_utf8(r.take(len)?).map_err(|_| Error::BadUtf8)?;
            s.push(Entry { app, name })?;
        }
        if r.remaining() != 0 {
            return Err(Error::BadLength);
        }
        Ok(s)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        12 + self.entries().map(|e| 3 + e.name.len()).sum::<usize>()
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf);
        w.put(&self.provider.0)?;
        w.u16(self.seq)?;
        w.u8(self.ttl)?;
        w.u8(self.count)?;
        for e in self.entries() {
            w.u16(e.app.0)?;
            // 1..=32 checked by push().
            w.u8(e.name.len() as u8)?;
            w.put(e.name.as_bytes())?;
        }
        Ok(w.pos())
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service {} seq {}", self.provider, self.seq)?;
        for e in self.entries() {
            write!(f, " {}={}", e.name, e.app)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SVC: [u8; 19] = [
        1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x00, 0x06, 0x01, 0x34, 0x12, 0x04, b'm', b'q', b't', b't',
    ];

    #[test]
    fn test_parse_emit() {
        let s = Repr::parse(&SVC).unwrap();
        let e: [Entry<'_>; 1] = [s.entries().next().unwrap()];
        assert_eq!(e[0].name, "mqtt");
        assert_eq!(s.buffer_len(), 19);
        let mut buf = [0u8; 19];
        assert_eq!(s.emit(&mut buf).unwrap(), 19);
        assert_eq!(buf, SVC);
        let mut bad = SVC;
        bad[15] = 0xff;
        assert_eq!(Repr::parse(&bad), Err(Error::BadUtf8));
    }
}
