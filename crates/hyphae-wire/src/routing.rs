//! The routing header of routed frames (`frames.md` §3).
//!
//! ```text
//! byte 0: hop limit
//! byte 1: bits 2..0 tree index | bits 4..3 alternates mask | bit 5 destination id |
//!         bits 7..6 reserved (zero)
//! bytes 2..4: epoch (u16 LE)
//! then: destination address, [destination short id (4)], the destination's coordinates in
//! other trees (one per mask bit), source address (`address`, nibble-encoded coordinates or ids)
//! ```

use core::fmt;

use crate::address::ShortId;
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
/// Tree-byte flag: the destination's short id follows the destination address.
const DST_ID_BIT: u8 = 0x20;
/// Most alternate destination coordinates a header carries (the two-bit mask).
pub const MAX_ALTERNATES: usize = 2;

/// The trees the alternates of a header carried in tree `tree` refer to: the trees other than
/// `tree`, in ascending order (`frames.md` §3).
pub const fn alternate_trees(tree: u8) -> [u8; MAX_ALTERNATES] {
    match tree {
        0 => [1, 2],
        1 => [0, 2],
        _ => [0, 1],
    }
}

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
    /// Which alternate destination coordinates follow the destination (bit j: the j-th tree of
    /// [`alternate_trees`]).
    pub fn alternates(&self) -> u8 {
        (self.bytes()[field::TREE] >> 3) & 0x03
    }
    /// Whether the destination's short id follows the destination address.
    pub fn has_dst_id(&self) -> bool {
        self.bytes()[field::TREE] & DST_ID_BIT != 0
    }
    /// The tree byte's reserved bits (must be zero).
    pub fn reserved(&self) -> u8 {
        self.bytes()[field::TREE] & 0xc0
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
        if self.has_dst_id() {
            r.array::<4>()?;
        }
        for _ in 0..self.alternates().count_ones() {
            Address::read(&mut r)?;
        }
        Address::read(&mut r)?;
        Ok(FIXED_LEN + r.pos())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the hop limit in place (forwarders decrement it without re-emitting).
    pub fn set_hop_limit(&mut self, hops: u8) {
        self.bytes_mut()[field::HOPS] = hops;
    }
    /// Set the tree index (masked to three bits), the alternates mask (two bits) and the
    /// destination-id flag; the reserved bits are cleared.
    pub fn set_tree(&mut self, tree: u8, alternates: u8, dst_id: bool) {
        self.bytes_mut()[field::TREE] =
            (tree & 0x07) | ((alternates & 0x03) << 3) | if dst_id { DST_ID_BIT } else { 0 };
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
    /// The destination's short id, so that a node holding the coordinates can tell whether it
    /// is the destination (coordinates are locators; a renumbering may hand them to another
    /// node). Only with coordinates in `dst`.
    pub dst_id: Option<ShortId>,
    /// The destination's coordinates in the other trees (`alt[j]` in the j-th tree of
    /// [`alternate_trees`]`(tree)`), where the origin knows them; only with coordinates in
    /// `dst`.
    pub alt: [Option<Coords>; MAX_ALTERNATES],
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
        let mut alt = [None; MAX_ALTERNATES];
        let mask = packet.alternates();
        if (mask != 0 || packet.has_dst_id()) && !matches!(dst, Address::Coords(_)) {
            return Err(Error::BadAddress);
        }
        let dst_id = if packet.has_dst_id() {
            Some(ShortId(r.array()?))
        } else {
            None
        };
        for (j, slot) in alt.iter_mut().enumerate() {
            if mask & (1 << j) != 0 {
                let Address::Coords(c) = Address::read(&mut r)? else {
                    return Err(Error::BadAddress);
                };
                *slot = Some(c);
            }
        }
        let src = Address::read(&mut r)?;
        Ok(Self {
            hop_limit: packet.hop_limit(),
            tree: packet.tree(),
            epoch: packet.epoch(),
            dst,
            dst_id,
            alt,
            src,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        let alt: usize = self
            .alternates()
            .map(|c| Address::Coords(c).buffer_len())
            .sum();
        let id = if self.sends_dst_id() { 4 } else { 0 };
        FIXED_LEN + self.dst.buffer_len() + id + alt + self.src.buffer_len()
    }

    fn sends_dst_id(&self) -> bool {
        self.dst_id.is_some() && matches!(self.dst, Address::Coords(_))
    }

    /// The alternates that are sent (none unless `dst` is coordinates).
    fn alternates(&self) -> impl Iterator<Item = Coords> + '_ {
        let coords = matches!(self.dst, Address::Coords(_));
        self.alt.iter().flatten().copied().filter(move |_| coords)
    }

    fn alternates_mask(&self) -> u8 {
        if !matches!(self.dst, Address::Coords(_)) {
            return 0;
        }
        self.alt
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .fold(0, |m, (j, _)| m | 1 << j)
    }

    /// Emit into the front of `packet`. `Err(Malformed)` for a tree above 7, `Err(TooLong)`
    /// if the buffer is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.tree > MAX_TREE {
            return Err(Error::Malformed);
        }
        ensure_room!(packet, self.buffer_len());
        packet.set_hop_limit(self.hop_limit);
        packet.set_tree(self.tree, self.alternates_mask(), self.sends_dst_id());
        packet.set_epoch(self.epoch);
        let mut w = Writer::new(packet.addresses_mut());
        self.dst.write(&mut w)?;
        if let (true, Some(id)) = (self.sends_dst_id(), self.dst_id) {
            w.put(&id.0)?;
        }
        for c in self.alternates() {
            Address::Coords(c).write(&mut w)?;
        }
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
            dst_id: None,
            alt: [None; MAX_ALTERNATES],
            src: Address::Short(ShortId([1, 2, 3, 4])),
        }
    }

    #[test]
    fn alternates() {
        let mut r = repr();
        r.alt[1] = Some(Coords::new(&[2, 5]).unwrap());
        let mut buf = [0u8; 32];
        let n = r.buffer_len();
        assert_eq!(n, HDR.len() + 2);
        r.emit(&mut Packet::new_unchecked(&mut buf[..n])).unwrap();
        assert_eq!(buf[1], 0x01 | 0x10);
        assert_eq!(buf[8..10], [0x02, 0x25]);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(p.header_len(), Ok(n));
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert_eq!(alternate_trees(1), [0, 2]);
        // With the destination id: four bytes after the destination, before the alternates.
        let mut with_id = r;
        with_id.dst_id = Some(ShortId([0xaa; 4]));
        let m = with_id.buffer_len();
        assert_eq!(m, n + 4);
        let mut buf2 = [0u8; 40];
        with_id
            .emit(&mut Packet::new_unchecked(&mut buf2[..m]))
            .unwrap();
        assert_eq!(buf2[1], 0x01 | 0x10 | 0x20);
        assert_eq!(buf2[8..12], [0xaa; 4]);
        let p2 = Packet::new_checked(&buf2[..m]).unwrap();
        assert_eq!(p2.header_len(), Ok(m));
        assert_eq!(Repr::parse(&p2).unwrap(), with_id);
        // An alternate that is not coordinates, or alternates after a node-id destination.
        let mut bad = buf;
        bad[8] = 0x40;
        assert!(Repr::parse(&Packet::new_unchecked(&bad[..n])).is_err());
        let mut node = r;
        node.dst = Address::Short(ShortId([9; 4]));
        let n2 = node.buffer_len();
        assert_eq!(n2, 4 + 5 + 5);
        node.emit(&mut Packet::new_unchecked(&mut buf[..n2]))
            .unwrap();
        assert_eq!(buf[1], 0x01);
        let mut forged = buf;
        forged[1] |= 0x08;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&forged[..n2])),
            Err(Error::BadAddress)
        );
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&HDR[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!((p.hop_limit(), p.tree(), p.epoch()), (7, 1, 0x0102));
        assert_eq!(p.header_len(), Ok(13));
        let mut bad = HDR;
        bad[1] |= 0x40;
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
