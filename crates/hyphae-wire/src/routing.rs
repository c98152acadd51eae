//! The routing header of routed frames (`frames.md` §3).

use core::fmt;

use crate::address::Address;
use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

/// Length of the fixed part (hop limit / tree byte and epoch).
pub const FIXED_LEN: usize = 3;
/// Largest hop limit the 5-bit field carries.
pub const MAX_HOP_LIMIT: u8 = 31;
/// Largest tree index the 3-bit field carries.
pub const MAX_TREE: u8 = 7;

/// A view over the fixed part of a routing header.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }
    /// Wrap and check the fixed part's length; after `Ok`, accessors do not panic.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `Err(Truncated)` if shorter than [`FIXED_LEN`].
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < FIXED_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Hops left.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x1f
    }
    /// Tree index.
    pub fn tree(&self) -> u8 {
        self.buffer.as_ref()[0] >> 5
    }
    /// Epoch of the tree.
    pub fn epoch(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_le_bytes([b[1], b[2]])
    }
    /// The bytes after the fixed part (addresses, then the body).
    pub fn rest(&self) -> &[u8] {
        &self.buffer.as_ref()[FIXED_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the hop limit in place (forwarders decrement it without re-emitting).
    pub fn set_hop_limit(&mut self, hops: u8) {
        let b = &mut self.buffer.as_mut()[0];
        *b = (*b & 0xe0) | (hops & 0x1f);
    }
}

/// The meaning of a routing header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Hops left (0..=31).
    pub hop_limit: u8,
    /// Tree the addresses refer to (0..=7).
    pub tree: u8,
    /// Tree state (epoch) of that tree.
    pub epoch: u16,
    /// Where the frame goes.
    pub dst: Address,
    /// Where it came from.
    pub src: Address,
}

impl Repr {
    /// Parse from the front of `buf`; returns the header and its length.
    pub fn parse(buf: &[u8]) -> Result<(Self, usize)> {
        let mut r = Reader::new(buf);
        let b0 = r.u8()?;
        let epoch = r.u16()?;
        let dst = Address::read(&mut r)?;
        let src = Address::read(&mut r)?;
        Ok((
            Self {
                hop_limit: b0 & 0x1f,
                tree: b0 >> 5,
                epoch,
                dst,
                src,
            },
            r.pos(),
        ))
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        FIXED_LEN + self.dst.buffer_len() + self.src.buffer_len()
    }

    /// Emit into the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.hop_limit > MAX_HOP_LIMIT || self.tree > MAX_TREE {
            return Err(Error::Malformed);
        }
        let mut w = Writer::new(buf);
        w.u8(self.tree << 5 | self.hop_limit)?;
        w.u16(self.epoch)?;
        self.dst.write(&mut w)?;
        self.src.write(&mut w)?;
        Ok(w.pos())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} tree {} epoch {} hops {}",
            self.src, self.dst, self.tree, self.epoch, self.hop_limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{Coords, ShortId};

    // hop limit 7, tree 1, epoch 0x0102, dst /3.0.20.1, src ~01020304
    static HDR: [u8; 12] = [
        0x27, 0x02, 0x01, 0x04, 0x30, 0xf0, 0x51, 0x40, 0x01, 0x02, 0x03, 0x04,
    ];

    fn repr() -> Repr {
        Repr {
            hop_limit: 7,
            tree: 1,
            epoch: 0x0102,
            dst: Address::Coords(Coords::new(&[3, 0, 20, 1]).unwrap()),
            src: Address::Short(ShortId([1, 2, 3, 4])),
        }
    }

    #[test]
    fn test_parse() {
        assert_eq!(Repr::parse(&HDR).unwrap(), (repr(), 12));
        let p = Packet::new_checked(&HDR[..]).unwrap();
        assert_eq!((p.hop_limit(), p.tree(), p.epoch()), (7, 1, 0x0102));
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 12];
        assert_eq!(repr().emit(&mut buf).unwrap(), 12);
        assert_eq!(buf, HDR);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_hop_limit(6);
        assert_eq!(p.hop_limit(), 6);
        assert_eq!(p.tree(), 1);
    }

    #[test]
    fn truncated() {
        for n in 0..HDR.len() {
            assert!(Repr::parse(&HDR[..n]).is_err());
        }
    }
}
