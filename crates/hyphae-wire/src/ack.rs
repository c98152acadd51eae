//! Selective acknowledgements (`frames.md` §4.3).

use core::fmt;

use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

/// Length of the fixed part.
pub const HEADER_LEN: usize = 5;
/// Longest bitmap in bytes (256 fragments beyond base).
pub const MAX_BITMAP: usize = 32;

/// The meaning of an Ack body. Whether it acknowledges or requests retransmission is the
/// frame's control code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Transfer acknowledged.
    pub transfer: u16,
    /// Every fragment with an index below `base` has been received.
    pub base: u16,
    /// Fragments the receiver accepts beyond `base` (flow control).
    pub window: u8,
    /// Bit `i` of byte `j` set: fragment `base + 8j + i` received (ack) or missing
    /// (retransmit request).
    pub bitmap: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parse an Ack body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let transfer = r.u16()?;
        let base = r.u16()?;
        let window = r.u8()?;
        let bitmap = r.rest();
        if bitmap.len() > MAX_BITMAP {
            return Err(Error::BadLength);
        }
        Ok(Self {
            transfer,
            base,
            window,
            bitmap,
        })
    }

    /// Whether the bitmap has bit `offset` (fragment `base + offset`) set.
    pub fn bit(&self, offset: usize) -> bool {
        self.bitmap
            .get(offset / 8)
            .is_some_and(|b| b & (1 << (offset % 8)) != 0)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.bitmap.len()
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.bitmap.len() > MAX_BITMAP {
            return Err(Error::TooLong);
        }
        let mut w = Writer::new(buf);
        w.u16(self.transfer)?;
        w.u16(self.base)?;
        w.u8(self.window)?;
        w.put(self.bitmap)?;
        Ok(w.pos())
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ack #{} base {} window {} map ",
            self.transfer, self.base, self.window
        )?;
        self.bitmap.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ACK: [u8; 7] = [0x05, 0x00, 0x0a, 0x00, 0x10, 0x05, 0x80];

    #[test]
    fn test_parse_emit() {
        let r = Repr::parse(&ACK).unwrap();
        assert_eq!((r.transfer, r.base, r.window), (5, 10, 16));
        assert!(r.bit(0) && !r.bit(1) && r.bit(2) && r.bit(15) && !r.bit(16));
        let mut buf = [0u8; 7];
        assert_eq!(r.emit(&mut buf).unwrap(), 7);
        assert_eq!(buf, ACK);
        assert_eq!(Repr::parse(&[0; 38]), Err(Error::BadLength));
    }
}
