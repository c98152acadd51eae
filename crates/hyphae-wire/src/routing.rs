//! The routing header of routed frames (`frames.md` §3).
//!
//! ```text
//! byte 0: hop limit
//! byte 1: bits 2..0 tree index | bits 7..3 reserved (zero)
//! bytes 2..4: epoch (u16 LE)
//! then: destination address, source address (`address`, nibble-encoded coordinates or ids)
//! ```

use core::fmt;

pub use crate::address::{Address, Coords};
use crate::cursor::{Reader, Writer};
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const HOPS: usize = 0;
    pub(super) const TREE: usize = 1;
    pub(super) const EPOCH: Range<usize> = 2..4;
    pub(super) const ADDRESSES: usize = EPOCH.end;
}

/// Length of the fixed part (hop limit, tree byte and epoch).
pub const FIXED_LEN: usize = field::ADDRESSES;
/// Largest hop limit the 8-bit field carries (10 000-node radio meshes have diameters of
/// 60 hops and more).
pub const MAX_HOP_LIMIT: u8 = 255;
/// Largest tree index the 3-bit field carries.
pub const MAX_TREE: u8 = 7;

packet_view! {
    /// A read/write view over a routing header (and whatever follows it).
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than [`FIXED_LEN`]. The addresses are checked by
    /// [`Repr::parse`] and [`Packet::header_len`].
    pub fn check_len(&self) -> Result<()> {
        if self.bytes().len() < FIXED_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Hops left.
    pub fn hop_limit(&self) -> u8 {
        self.bytes()[field::HOPS]
    }
    /// Tree index (the low three bits of the tree byte).
    pub fn tree(&self) -> u8 {
        self.bytes()[field::TREE] & 0x07
    }
    /// The tree byte's reserved bits (must be zero).
    pub fn reserved(&self) -> u8 {
        self.bytes()[field::TREE] & 0xf8
    }
    /// Epoch (tree state) of the tree.
    pub fn epoch(&self) -> u16 {
        let b = &self.bytes()[field::EPOCH];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The bytes after the fixed part (the two addresses, then whatever follows).
    pub fn addresses(&self) -> &[u8] {
        &self.bytes()[field::ADDRESSES..]
    }
    /// Length of the whole routing header, found by walking both address descriptors.
    /// Never panics; `Err` if an address is malformed or truncated.
    pub fn header_len(&self) -> Result<usize> {
        let mut r = Reader::new(self.addresses());
        Address::read(&mut r)?;
        Address::read(&mut r)?;
        Ok(FIXED_LEN + r.pos())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the hop limit in place (forwarders decrement it without re-emitting).
    pub fn set_hop_limit(&mut self, hops: u8) {
        self.bytes_mut()[field::HOPS] = hops;
    }
    /// Set the tree index (masked to three bits; the reserved bits are cleared).
    pub fn set_tree(&mut self, tree: u8) {
        self.bytes_mut()[field::TREE] = tree & 0x07;
    }
    /// Set the epoch.
    pub fn set_epoch(&mut self, epoch: u16) {
        self.bytes_mut()[field::EPOCH].copy_from_slice(&epoch.to_le_bytes());
    }
    /// The bytes after the fixed part, writable.
    pub fn addresses_mut(&mut self) -> &mut [u8] {
        &mut self.bytes_mut()[field::ADDRESSES..]
    }
}

/// The meaning of a routing header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Hops left (0..=255).
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
    /// Parse the routing header at the front of the view; it occupies
    /// [`Repr::buffer_len`] bytes (the address encoding is canonical).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.reserved() != 0 {
            return Err(Error::Malformed);
        }
        let mut r = Reader::new(packet.addresses());
        let dst = Address::read(&mut r)?;
        let src = Address::read(&mut r)?;
        Ok(Self {
            hop_limit: packet.hop_limit(),
            tree: packet.tree(),
            epoch: packet.epoch(),
            dst,
            src,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        FIXED_LEN + self.dst.buffer_len() + self.src.buffer_len()
    }

    /// Emit into the front of `packet`. `Err(Malformed)` for a tree above 7, `Err(TooLong)`
    /// if the buffer is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.tree > MAX_TREE {
            return Err(Error::Malformed);
        }
        ensure_room!(packet, self.buffer_len());
        packet.set_hop_limit(self.hop_limit);
        packet.set_tree(self.tree);
        packet.set_epoch(self.epoch);
        let mut w = Writer::new(packet.addresses_mut());
        self.dst.write(&mut w)?;
        self.src.write(&mut w)
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
    use crate::address::ShortId;

    // hop limit 7, tree 1, epoch 0x0102, dst /3.0.20.1, src ~01020304 (frames.md §8)
    static HDR: [u8; 13] = [
        0x07, 0x01, 0x02, 0x01, 0x04, 0x30, 0xf0, 0x51, 0x40, 0x01, 0x02, 0x03, 0x04,
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
        let p = Packet::new_checked(&HDR[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!((p.hop_limit(), p.tree(), p.epoch()), (7, 1, 0x0102));
        assert_eq!(p.header_len(), Ok(13));
        let mut bad = HDR;
        bad[1] |= 0x08;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bad[..])),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 13];
        repr().emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, HDR);
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_hop_limit(200);
        assert_eq!((p.hop_limit(), p.tree()), (200, 1));
        let mut short = [0u8; 12];
        assert_eq!(
            repr().emit(&mut Packet::new_unchecked(&mut short)),
            Err(Error::TooLong)
        );
    }

    #[test]
    fn truncated() {
        for n in 0..HDR.len() {
            assert!(Repr::parse(&Packet::new_unchecked(&HDR[..n])).is_err());
        }
    }
}
