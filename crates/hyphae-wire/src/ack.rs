//! Selective acknowledgements (`frames.md` §4.3).
//!
//! ```text
//! transfer u16 | base u16 | window u8 | bitmap 0..=32 bytes
//! ```
//!
//! Bit `i` (bit 0 = least significant) of bitmap byte `j` stands for fragment `base + 8j + i`.

use core::fmt;

use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const TRANSFER: Range<usize> = 0..2;
    pub(super) const BASE: Range<usize> = 2..4;
    pub(super) const WINDOW: usize = 4;
    pub(super) const BITMAP: usize = 5;
}

/// Length of the fixed part.
pub const HEADER_LEN: usize = field::BITMAP;
/// Longest bitmap in bytes (256 fragments beyond base).
pub const MAX_BITMAP: usize = 32;

packet_view! {
    /// A read/write view over an Ack body.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than [`HEADER_LEN`], `Err(BadLength)` if the bitmap is
    /// longer than [`MAX_BITMAP`].
    pub fn check_len(&self) -> Result<()> {
        let len = self.bytes().len();
        if len < HEADER_LEN {
            Err(Error::Truncated)
        } else if len > HEADER_LEN + MAX_BITMAP {
            Err(Error::BadLength)
        } else {
            Ok(())
        }
    }
    /// The transfer acknowledged.
    pub fn transfer(&self) -> u16 {
        let b = &self.bytes()[field::TRANSFER];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// Every fragment below `base` has been received.
    pub fn base(&self) -> u16 {
        let b = &self.bytes()[field::BASE];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// Fragments the receiver accepts beyond `base`.
    pub fn window(&self) -> u8 {
        self.bytes()[field::WINDOW]
    }
    /// The bitmap bytes.
    pub fn bitmap(&self) -> &[u8] {
        &self.bytes()[field::BITMAP..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the transfer id.
    pub fn set_transfer(&mut self, transfer: u16) {
        self.bytes_mut()[field::TRANSFER].copy_from_slice(&transfer.to_le_bytes());
    }
    /// Set the base.
    pub fn set_base(&mut self, base: u16) {
        self.bytes_mut()[field::BASE].copy_from_slice(&base.to_le_bytes());
    }
    /// Set the window.
    pub fn set_window(&mut self, window: u8) {
        self.bytes_mut()[field::WINDOW] = window;
    }
    /// The bitmap, writable.
    pub fn bitmap_mut(&mut self) -> &mut [u8] {
        &mut self.bytes_mut()[field::BITMAP..]
    }
}

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
    /// (retransmit request). At most [`MAX_BITMAP`] bytes.
    pub bitmap: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parse an Ack body.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        Ok(Self {
            transfer: packet.transfer(),
            base: packet.base(),
            window: packet.window(),
            bitmap: &packet.whole()[field::BITMAP..],
        })
    }

    /// Whether the bitmap has bit `offset` (fragment `base + offset`) set.
    pub fn bit(&self, offset: usize) -> bool {
        self.bitmap
            .get(offset / 8)
            .is_some_and(|b| b & (1 << (offset % 8)) != 0)
    }

    /// The fragment indices whose bit is set, in increasing order.
    pub fn set_bits(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.bitmap.len() * 8)
            .filter(|&i| self.bit(i))
            .map(|i| u32::from(self.base) + i as u32)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.bitmap.len()
    }

    /// Emit into the front of `packet`. `Err(TooLong)` for a bitmap longer than
    /// [`MAX_BITMAP`] or a buffer shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.bitmap.len() > MAX_BITMAP {
            return Err(Error::TooLong);
        }
        ensure_room!(packet, self.buffer_len());
        packet.set_transfer(self.transfer);
        packet.set_base(self.base);
        packet.set_window(self.window);
        packet.bitmap_mut()[..self.bitmap.len()].copy_from_slice(self.bitmap);
        Ok(())
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

    // frames.md §8: transfer 5, base 10, window 16; fragments 10, 12 and 25 set.
    static ACK: [u8; 7] = [0x05, 0x00, 0x0a, 0x00, 0x10, 0x05, 0x80];

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&ACK[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!((r.transfer, r.base, r.window), (5, 10, 16));
        assert!(r.bit(0) && !r.bit(1) && r.bit(2) && r.bit(15) && !r.bit(16));
        let mut set = [0u32; 3];
        set.iter_mut().zip(r.set_bits()).for_each(|(s, b)| *s = b);
        assert_eq!(set, [10, 12, 25]);
        assert_eq!(r.set_bits().count(), 3);
        assert_eq!(
            Packet::new_checked(&[0u8; 38][..]).unwrap_err(),
            Error::BadLength
        );
        assert_eq!(
            Packet::new_checked(&[0u8; 4][..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn test_emit() {
        let r = Repr {
            transfer: 5,
            base: 10,
            window: 16,
            bitmap: &[0x05, 0x80],
        };
        let mut buf = [0u8; 7];
        r.emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, ACK);
    }
}
