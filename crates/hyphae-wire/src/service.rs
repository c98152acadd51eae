//! Service announcements (`frames.md` §5.4).
//!
//! ```text
//! provider node id (8) | seq u16 | ttl u8 (units of 10 s) | entry count n (0..=8)
//! n × (app id u16 | name length u8 (1..=32) | name, UTF-8)
//! ```

use core::fmt;

use crate::address::NodeId;
use crate::cursor::{Reader, Writer};
use crate::package::AppId;
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const PROVIDER: Range<usize> = 0..8;
    pub(super) const SEQ: Range<usize> = 8..10;
    pub(super) const TTL: usize = 10;
    pub(super) const COUNT: usize = 11;
    pub(super) const ENTRIES: usize = 12;
}

/// Length of the fixed part.
pub const HEADER_LEN: usize = field::ENTRIES;

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

packet_view! {
    /// A read/write view over a Service body.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than [`HEADER_LEN`] (the entries are checked by
    /// [`Repr::parse`]).
    pub fn check_len(&self) -> Result<()> {
        if self.bytes().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// The provider.
    pub fn provider(&self) -> NodeId {
        let mut id = [0; 8];
        id.copy_from_slice(&self.bytes()[field::PROVIDER]);
        NodeId(id)
    }
    /// The announcement sequence number.
    pub fn seq(&self) -> u16 {
        let b = &self.bytes()[field::SEQ];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// Validity in units of 10 s.
    pub fn ttl(&self) -> u8 {
        self.bytes()[field::TTL]
    }
    /// The number of entries.
    pub fn count(&self) -> u8 {
        self.bytes()[field::COUNT]
    }
    /// The encoded entries.
    pub fn entries(&self) -> &[u8] {
        &self.bytes()[field::ENTRIES..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the provider.
    pub fn set_provider(&mut self, provider: NodeId) {
        self.bytes_mut()[field::PROVIDER].copy_from_slice(&provider.0);
    }
    /// Set the sequence number.
    pub fn set_seq(&mut self, seq: u16) {
        self.bytes_mut()[field::SEQ].copy_from_slice(&seq.to_le_bytes());
    }
    /// Set the ttl.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.bytes_mut()[field::TTL] = ttl;
    }
    /// Set the entry count.
    pub fn set_count(&mut self, count: u8) {
        self.bytes_mut()[field::COUNT] = count;
    }
    /// The entries, writable.
    pub fn entries_mut(&mut self) -> &mut [u8] {
        &mut self.bytes_mut()[field::ENTRIES..]
    }
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

    /// Parse a Service body; the last entry must end the body.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        let mut s = Self::new(packet.provider(), packet.seq(), packet.ttl());
        let n = packet.count();
        if usize::from(n) > MAX_ENTRIES {
            return Err(Error::BadLength);
        }
        let mut r = Reader::new(&packet.whole()[field::ENTRIES..]);
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
        HEADER_LEN + self.entries().map(|e| 3 + e.name.len()).sum::<usize>()
    }

    /// Emit into `packet`; `Err(TooLong)` if it is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.entries().any(|e| e.app.is_reserved()) {
            return Err(Error::Malformed);
        }
        ensure_room!(packet, self.buffer_len());
        packet.set_provider(self.provider);
        packet.set_seq(self.seq);
        packet.set_ttl(self.ttl);
        packet.set_count(self.count);
        let mut w = Writer::new(packet.entries_mut());
        for e in self.entries() {
            w.u16(e.app.get())?;
            // 1..=32, checked by push().
            w.u8(e.name.len() as u8)?;
            w.put(e.name.as_bytes())?;
        }
        Ok(())
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

    // frames.md §8: provider 0102030405060708, seq 1, ttl 60 s, one entry "mqtt" served by
    // application 0x1234.
    static SVC: [u8; 19] = [
        1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x00, 0x06, 0x01, 0x34, 0x12, 0x04, b'm', b'q', b't', b't',
    ];

    fn repr() -> Repr<'static> {
        let mut s = Repr::new(NodeId([1, 2, 3, 4, 5, 6, 7, 8]), 1, 6);
        s.push(Entry {
            app: AppId::new(0x1234).unwrap(),
            name: "mqtt",
        })
        .unwrap();
        s
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&SVC[..]).unwrap();
        assert_eq!((p.seq(), p.ttl(), p.count()), (1, 6, 1));
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        let mut bad = SVC;
        bad[15] = 0xff;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bad)),
            Err(Error::BadUtf8)
        );
    }

    #[test]
    fn test_emit() {
        assert_eq!(repr().buffer_len(), 19);
        let mut buf = [0u8; 19];
        repr().emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, SVC);
    }
}
