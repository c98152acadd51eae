//! Node identifiers and addresses: tree coordinates in nibble encoding, short and full node ids
//! (`frames.md` §3.1).

use core::fmt;

use crate::cursor::{Reader, Writer};
use crate::{Error, Result};

/// A node id: the first 8 bytes of SHA-256 over the node's Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 8]);

impl NodeId {
    /// The first four bytes, used where coordinates are unknown.
    pub fn short(&self) -> ShortId {
        ShortId([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The first four bytes of a [`NodeId`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ShortId(pub [u8; 4]);

impl fmt::Debug for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Deepest tree position this implementation represents. Deeper coordinates are
/// [`Error::BadAddress`] on parse and [`Error::TooLong`] on construction.
pub const MAX_DEPTH: usize = 127;
/// Largest child index the nibble encoding carries.
pub const MAX_CHILD_INDEX: u16 = 270;
/// Bytes of nibble-encoded levels a [`Coords`] holds (`2 ×` this many nibbles: 127 levels with
/// indices below 15, fewer with larger indices, which take three nibbles each).
pub const COORD_BYTES: usize = 64;

/// Tree coordinates: the child index at each level from the root (the root is empty).
///
/// Stored as on the air (`frames.md` §3.1): a nibble stream where an index below 15 is one
/// nibble and a larger one is `0xF` followed by two nibbles of `index - 15`. Unused nibbles are
/// zero, so equality and hashing compare positions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Coords {
    len: u8,
    nibs: u8,
    bytes: [u8; COORD_BYTES],
}

impl Default for Coords {
    fn default() -> Self {
        Self::ROOT
    }
}

/// The child indices of a [`Coords`], root first.
#[derive(Clone, Debug)]
pub struct Levels<'c> {
    coords: &'c Coords,
    nib: usize,
    left: usize,
}

impl Iterator for Levels<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if self.left == 0 {
            return None;
        }
        let (index, width) = self.coords.decode_at(self.nib);
        self.nib += width;
        self.left -= 1;
        Some(index)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Levels<'_> {}

impl Coords {
    /// The root's coordinates.
    pub const ROOT: Self = Self {
        len: 0,
        nibs: 0,
        bytes: [0; COORD_BYTES],
    };

    /// Coordinates from child indices; `Err(TooLong)` if deeper than [`MAX_DEPTH`], longer
    /// than [`COORD_BYTES`] encoded, or an index is above [`MAX_CHILD_INDEX`].
    pub fn new(levels: &[u16]) -> Result<Self> {
        let mut c = Self::ROOT;
        for &l in levels {
            c.push(l)?;
        }
        Ok(c)
    }

    /// The coordinates of this node's child number `index`.
    pub fn child(&self, index: u16) -> Result<Self> {
        let mut c = *self;
        c.push(index)?;
        Ok(c)
    }

    fn nibble(&self, i: usize) -> u8 {
        let b = self.bytes.get(i / 2).copied().unwrap_or(0);
        if i.is_multiple_of(2) {
            b >> 4
        } else {
            b & 0x0f
        }
    }

    fn set_nibble(&mut self, i: usize, v: u8) {
        if let Some(b) = self.bytes.get_mut(i / 2) {
            *b = if i.is_multiple_of(2) {
                (*b & 0x0f) | (v << 4)
            } else {
                (*b & 0xf0) | (v & 0x0f)
            };
        }
    }

    /// The index starting at nibble `i` and its width in nibbles.
    fn decode_at(&self, i: usize) -> (u16, usize) {
        let n = self.nibble(i);
        if n < 15 {
            (u16::from(n), 1)
        } else {
            let v = u16::from(self.nibble(i + 1)) << 4 | u16::from(self.nibble(i + 2));
            (15 + v, 3)
        }
    }

    /// Descend in place to child number `index`; `Err(TooLong)` if deeper than
    /// [`MAX_DEPTH`], longer than [`COORD_BYTES`] encoded, or an index is above
    /// [`MAX_CHILD_INDEX`] (then `self` is unchanged).
    pub fn push(&mut self, index: u16) -> Result<()> {
        if index > MAX_CHILD_INDEX || self.depth() >= MAX_DEPTH {
            return Err(Error::TooLong);
        }
        let at = usize::from(self.nibs);
        let width = if index < 15 { 1 } else { 3 };
        if at + width > 2 * COORD_BYTES {
            return Err(Error::TooLong);
        }
        if index < 15 {
            // < 15 fits a nibble.
            self.set_nibble(at, index as u8);
        } else {
            let v = index - 15; // <= 255 by MAX_CHILD_INDEX
            self.set_nibble(at, 15);
            self.set_nibble(at + 1, (v >> 4) as u8 & 0x0f);
            self.set_nibble(at + 2, v as u8 & 0x0f);
        }
        self.nibs += width as u8;
        self.len += 1;
        Ok(())
    }

    /// Nibble offset where the last level starts.
    fn last_start(&self) -> Option<usize> {
        let mut at = 0;
        let mut start = None;
        for _ in 0..self.depth() {
            start = Some(at);
            at += self.decode_at(at).1;
        }
        start
    }

    /// The parent's coordinates (`None` for the root).
    pub fn parent(&self) -> Option<Self> {
        let start = self.last_start()?;
        let mut c = *self;
        for i in start..usize::from(self.nibs) {
            c.set_nibble(i, 0);
        }
        c.nibs = start as u8;
        c.len -= 1;
        Some(c)
    }

    /// Depth in the tree (the root is 0).
    pub fn depth(&self) -> usize {
        usize::from(self.len)
    }

    /// The child indices, root first.
    pub fn levels(&self) -> Levels<'_> {
        Levels {
            coords: self,
            nib: 0,
            left: self.depth(),
        }
    }

    /// The last child index (`None` for the root).
    pub fn last_level(&self) -> Option<u16> {
        self.last_start().map(|s| self.decode_at(s).0)
    }

    /// Length of the common prefix with `other`.
    pub fn common_prefix_len(&self, other: &Self) -> usize {
        // The encoding is prefix-free per level: the levels in common are exactly those that
        // end at or before the first nibble where the two streams differ.
        let shared = usize::from(self.nibs.min(other.nibs));
        let whole = shared / 2;
        let mut diff = self.bytes[..whole]
            .iter()
            .zip(&other.bytes[..whole])
            .position(|(a, b)| a != b)
            .map_or(whole * 2, |i| {
                i * 2 + usize::from(self.bytes[i] >> 4 == other.bytes[i] >> 4)
            });
        if diff == whole * 2 && shared % 2 == 1 && self.nibble(diff) == other.nibble(diff) {
            diff += 1;
        }
        let mut at = 0;
        let mut n = 0;
        for _ in 0..self.depth().min(other.depth()) {
            at += self.decode_at(at).1;
            if at > diff {
                break;
            }
            n += 1;
        }
        n
    }

    /// Hop distance between the two positions in the tree:
    /// `depth(a) + depth(b) - 2 * cpl(a, b)`.
    pub fn tree_distance(&self, other: &Self) -> usize {
        self.depth() + other.depth() - 2 * self.common_prefix_len(other)
    }

    /// Whether `self` is `other` or one of its ancestors.
    pub fn is_prefix_of(&self, other: &Self) -> bool {
        self.nibs <= other.nibs && self.common_prefix_len(other) == self.depth()
    }

    /// Bytes of the nibble-encoded body (without the descriptor).
    pub fn body_len(&self) -> usize {
        usize::from(self.nibs).div_ceil(2)
    }

    /// The nibble-encoded body exactly as sent.
    pub fn body(&self) -> &[u8] {
        &self.bytes[..self.body_len()]
    }
}

impl fmt::Debug for Coords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Coords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("/")?;
        for (i, l) in self.levels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{l}")?;
        }
        Ok(())
    }
}

/// An address in a routed frame or a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Address {
    /// Tree coordinates.
    Coords(Coords),
    /// The first four bytes of a node id (coordinates unknown).
    Short(ShortId),
    /// A full node id.
    Node(NodeId),
}

const TYPE_COORDS: u8 = 0;
const TYPE_SHORT: u8 = 1;
const TYPE_NODE: u8 = 2;
/// A coordinate descriptor's depth field at this value means a depth byte follows.
const DEPTH_ESCAPE: usize = 63;

impl Address {
    /// Encoded length including the descriptor byte.
    pub fn buffer_len(&self) -> usize {
        1 + match self {
            Self::Coords(c) => c.body_len() + usize::from(c.depth() >= DEPTH_ESCAPE),
            Self::Short(_) => 4,
            Self::Node(_) => 8,
        }
    }

    /// Parse one address from the front of `buf`; returns it and the bytes consumed.
    pub fn parse(buf: &[u8]) -> Result<(Self, usize)> {
        let mut r = Reader::new(buf);
        let a = Self::read(&mut r)?;
        Ok((a, r.pos()))
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let d = r.u8()?;
        let low = d & 0x3f;
        match d >> 6 {
            TYPE_COORDS => {
                let mut depth = usize::from(low);
                if depth == DEPTH_ESCAPE {
                    depth = usize::from(r.u8()?);
                    if depth < DEPTH_ESCAPE {
                        return Err(Error::BadAddress);
                    }
                }
                if depth > MAX_DEPTH {
                    return Err(Error::BadAddress);
                }
                read_coords(r, depth).map(Self::Coords)
            }
            TYPE_SHORT if low == 0 => Ok(Self::Short(ShortId(r.array()?))),
            TYPE_NODE if low == 0 => Ok(Self::Node(NodeId(r.array()?))),
            _ => Err(Error::BadAddress),
        }
    }

    /// Emit into the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        Ok(w.pos())
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        match self {
            Self::Coords(c) => {
                // depth <= MAX_DEPTH (127) by construction.
                if c.depth() >= DEPTH_ESCAPE {
                    w.u8((TYPE_COORDS << 6) | DEPTH_ESCAPE as u8)?;
                    w.u8(c.len)?;
                } else {
                    w.u8((TYPE_COORDS << 6) | c.len)?;
                }
                w.put(c.body())
            }
            Self::Short(s) => {
                w.u8(TYPE_SHORT << 6)?;
                w.put(&s.0)
            }
            Self::Node(n) => {
                w.u8(TYPE_NODE << 6)?;
                w.put(&n.0)
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Coords(c) => write!(f, "{c}"),
            Self::Short(s) => write!(f, "~{s}"),
            Self::Node(n) => write!(f, "{n}"),
        }
    }
}

struct NibbleReader<'r, 'a> {
    r: &'r mut Reader<'a>,
    pending: Option<u8>,
}

impl NibbleReader<'_, '_> {
    fn next(&mut self) -> Result<u8> {
        if let Some(n) = self.pending.take() {
            return Ok(n);
        }
        let b = self.r.u8().map_err(|_| Error::BadAddress)?;
        self.pending = Some(b & 0x0f);
        Ok(b >> 4)
    }
}

fn read_coords(r: &mut Reader<'_>, depth: usize) -> Result<Coords> {
    let mut nr = NibbleReader { r, pending: None };
    let mut c = Coords::ROOT;
    for _ in 0..depth {
        let n = nr.next()?;
        let index = if n < 15 {
            u16::from(n)
        } else {
            let hi = u16::from(nr.next()?);
            let lo = u16::from(nr.next()?);
            15 + (hi << 4 | lo)
        };
        c.push(index).map_err(|_| Error::BadAddress)?;
    }
    if matches!(nr.pending, Some(p) if p != 0) {
        return Err(Error::BadAddress);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    static COORDS_3_0_20_1: [u8; 4] = [0x04, 0x30, 0xf0, 0x51];

    #[test]
    fn test_parse_coords() {
        let (a, n) = Address::parse(&COORDS_3_0_20_1).unwrap();
        assert_eq!(n, 4);
        assert_eq!(a, Address::Coords(Coords::new(&[3, 0, 20, 1]).unwrap()));
    }

    #[test]
    fn test_emit_coords() {
        let a = Address::Coords(Coords::new(&[3, 0, 20, 1]).unwrap());
        let mut buf = [0u8; 8];
        assert_eq!(a.emit(&mut buf).unwrap(), 4);
        assert_eq!(buf[..4], COORDS_3_0_20_1);
    }

    #[test]
    fn short_and_node() {
        let s = Address::Short(ShortId([1, 2, 3, 4]));
        let mut buf = [0u8; 9];
        assert_eq!(s.emit(&mut buf).unwrap(), 5);
        assert_eq!(buf[..5], [0x40, 1, 2, 3, 4]);
        let n = Address::Node(NodeId([9; 8]));
        assert_eq!(n.emit(&mut buf).unwrap(), 9);
        assert_eq!(buf[0], 0x80);
        assert_eq!(Address::parse(&buf).unwrap(), (n, 9));
    }

    #[test]
    fn rejects_bad() {
        assert_eq!(Address::parse(&[0xc0]), Err(Error::BadAddress));
        assert_eq!(Address::parse(&[0x41, 1, 2, 3, 4]), Err(Error::BadAddress));
        assert_eq!(Address::parse(&[0x01, 0x31]), Err(Error::BadAddress)); // pad nibble
        assert_eq!(Address::parse(&[0x3f, 0x80]), Err(Error::BadAddress)); // depth 128
        assert_eq!(Address::parse(&[0x3f, 0x3e]), Err(Error::BadAddress)); // escape below 63
        assert_eq!(Address::parse(&[0x02, 0x3f]), Err(Error::BadAddress)); // truncated escape
        assert_eq!(Address::parse(&[0x40, 1]), Err(Error::Truncated));
    }

    #[test]
    fn metrics() {
        let a = Coords::new(&[1, 2, 3]).unwrap();
        let b = Coords::new(&[1, 4]).unwrap();
        assert_eq!(a.common_prefix_len(&b), 1);
        assert_eq!(a.tree_distance(&b), 3);
        assert_eq!(a.tree_distance(&a), 0);
        assert!(Coords::ROOT.is_prefix_of(&a));
        assert!(a.parent().unwrap().levels().eq([1, 2]));
        assert!(Coords::new(&[271]).is_err());
        let big = Coords::new(&[1, 200, 3]).unwrap();
        assert_eq!(big.parent().unwrap(), Coords::new(&[1, 200]).unwrap());
        assert_eq!(big.last_level(), Some(3));
        assert_eq!(
            big.common_prefix_len(&Coords::new(&[1, 200, 4]).unwrap()),
            2
        );
        assert_eq!(big.common_prefix_len(&Coords::new(&[1, 201]).unwrap()), 1);
        assert_eq!(big.common_prefix_len(&Coords::new(&[1]).unwrap()), 1);
        assert!(
            !Coords::new(&[1, 200])
                .unwrap()
                .is_prefix_of(&Coords::new(&[1, 20]).unwrap())
        );
    }

    #[test]
    fn deep_coordinates_use_a_depth_byte() {
        let deep = Coords::new(&[3; 100]).unwrap();
        let a = Address::Coords(deep);
        let mut buf = [0u8; 64];
        let n = a.emit(&mut buf).unwrap();
        assert_eq!(n, 2 + 50);
        assert_eq!(a.buffer_len(), n);
        assert_eq!(buf[..2], [0x3f, 100]);
        assert_eq!(Address::parse(&buf[..n]).unwrap(), (a, n));
        assert!(Coords::new(&[3; 128]).is_err());
        assert!(Coords::new(&[300 - 30; 43]).is_err()); // 129 nibbles
    }

    #[test]
    fn depth_8_worst_case_is_5_bytes() {
        let c = Coords::new(&[14; 8]).unwrap();
        assert_eq!(Address::Coords(c).buffer_len(), 5);
    }

    mod props {
        extern crate std;
        use super::*;
        use proptest::prelude::*;
        use std::vec::Vec;

        fn levels() -> impl Strategy<Value = Vec<u16>> {
            // Mostly small indices (shared prefixes), some escapes, up to the full depth.
            proptest::collection::vec(
                prop_oneof![4 => 0u16..3, 1 => 0u16..=MAX_CHILD_INDEX],
                0..=MAX_DEPTH,
            )
        }

        proptest! {
            #[test]
            fn coords_behave_like_their_levels(a in levels(), b in levels()) {
                let (Ok(x), Ok(y)) = (Coords::new(&a), Coords::new(&b)) else {
                    // Only too many wide indices may fail.
                    let nibs = |v: &[u16]| v.iter().map(|&l| if l < 15 { 1 } else { 3 }).sum::<usize>();
                    prop_assert!(nibs(&a) > 2 * COORD_BYTES || nibs(&b) > 2 * COORD_BYTES);
                    return Ok(());
                };
                prop_assert!(x.levels().eq(a.iter().copied()));
                let naive = a.iter().zip(&b).take_while(|(p, q)| p == q).count();
                prop_assert_eq!(x.common_prefix_len(&y), naive);
                prop_assert_eq!(x.is_prefix_of(&y), naive == a.len());
                prop_assert_eq!(x == y, a == b);
                prop_assert_eq!(x.last_level(), a.last().copied());
                if let Some(p) = x.parent() {
                    prop_assert_eq!(p, Coords::new(&a[..a.len() - 1]).unwrap());
                }
                let mut buf = [0u8; 2 + COORD_BYTES];
                let n = Address::Coords(x).emit(&mut buf).unwrap();
                prop_assert_eq!(n, Address::Coords(x).buffer_len());
                prop_assert_eq!(Address::parse(&buf[..n]).unwrap(), (Address::Coords(x), n));
            }
        }
    }
}
