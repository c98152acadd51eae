//! Fragments of a transfer, compact and large forms (`frames.md` §4.2).

use core::fmt;

use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

/// Header length of a compact fragment (≤ 256 fragments).
pub const COMPACT_HEADER_LEN: usize = 4;
/// Header length of a large fragment (≤ 65 536 fragments).
pub const LARGE_HEADER_LEN: usize = 6;
/// Most fragments one transfer may have.
pub const MAX_FRAGMENTS: u32 = 1 << 16;

/// The meaning of a Fragment or FragmentLarge body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Transfer id.
    pub transfer: u16,
    /// Index of this fragment (`< count`).
    pub index: u16,
    /// Number of fragments in the transfer, minus one.
    pub last: u16,
    /// Fragment data.
    pub data: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Number of fragments in the transfer (1..=65 536).
    pub fn count(&self) -> u32 {
        u32::from(self.last) + 1
    }

    /// Whether the compact form carries this fragment (fewer than 257 fragments).
    pub fn is_compact(&self) -> bool {
        self.last <= u16::from(u8::MAX)
    }

    /// Header length for this fragment's form.
    pub fn header_len(&self) -> usize {
        if self.is_compact() {
            COMPACT_HEADER_LEN
        } else {
            LARGE_HEADER_LEN
        }
    }

    /// Parse a body; `large` selects the FragmentLarge layout (from the frame kind).
    pub fn parse(body: &'a [u8], large: bool) -> Result<Self> {
        let mut r = Reader::new(body);
        let transfer = r.u16()?;
        let (index, last) = if large {
            (r.u16()?, r.u16()?)
        } else {
            (u16::from(r.u8()?), u16::from(r.u8()?))
        };
        if index > last {
            return Err(Error::Malformed);
        }
        Ok(Self {
            transfer,
            index,
            last,
            data: r.rest(),
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.data.len()
    }

    /// Emit into the front of `buf`, in the compact form when it fits; returns the bytes
    /// written. The frame kind must match [`Repr::is_compact`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.index > self.last {
            return Err(Error::Malformed);
        }
        let mut w = Writer::new(buf);
        w.u16(self.transfer)?;
        if self.is_compact() {
            // Both fit a byte: is_compact() checked last <= 255 and index <= last.
            w.u8(self.index as u8)?;
            w.u8(self.last as u8)?;
        } else {
            w.u16(self.index)?;
            w.u16(self.last)?;
        }
        w.put(self.data)?;
        Ok(w.pos())
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fragment #{} {}/{} {} B",
            self.transfer,
            self.index,
            self.count(),
            self.data.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static COMPACT: [u8; 6] = [0x05, 0x00, 0x02, 0x09, 0xaa, 0xbb];
    static LARGE: [u8; 7] = [0x05, 0x00, 0x2c, 0x01, 0x2b, 0x01, 0xcc];

    #[test]
    fn test_compact() {
        let r = Repr::parse(&COMPACT, false).unwrap();
        assert_eq!((r.transfer, r.index, r.count()), (5, 2, 10));
        let mut buf = [0u8; 6];
        assert_eq!(r.emit(&mut buf).unwrap(), 6);
        assert_eq!(buf, COMPACT);
    }

    #[test]
    fn test_large() {
        // index 300 of 300 → last 299 < index: malformed; use index 299 of 301.
        assert_eq!(Repr::parse(&LARGE, true), Err(Error::Malformed));
        let r = Repr {
            transfer: 5,
            index: 299,
            last: 300,
            data: &[0xcc],
        };
        let mut buf = [0u8; 7];
        assert_eq!(r.emit(&mut buf).unwrap(), 7);
        assert_eq!(buf, [0x05, 0x00, 0x2b, 0x01, 0x2c, 0x01, 0xcc]);
        assert_eq!(Repr::parse(&buf, true).unwrap(), r);
    }
}
