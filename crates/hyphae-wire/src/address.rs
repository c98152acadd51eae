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
pub const MAX_DEPTH: usize = 32;
/// Largest child index the nibble encoding carries.
pub const MAX_CHILD_INDEX: u16 = 270;

/// Tree coordinates: the child index at each level from the root (the root is empty).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Coords {
    len: u8,
    levels: [u16; MAX_DEPTH],
}

impl Default for Coords {
    fn default() -> Self {
        Self::ROOT
    }
}

impl Coords {
    /// The root's coordinates.
    pub const ROOT: Self = Self {
        len: 0,
        levels: [0; MAX_DEPTH],
    };

    /// Coordinates from child indices; `Err(TooLong)` if deeper than [`MAX_DEPTH`] or an index
    /// is above [`MAX_CHILD_INDEX`].
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

    /// Descend in place to child number `index`; `Err(TooLong)` if deeper than
    /// [`MAX_DEPTH`] or an index is above [`MAX_CHILD_INDEX`] (then `self` is unchanged).
    pub fn push(&mut self, index: u16) -> Result<()> {
        let depth = self.depth();
        if index > MAX_CHILD_INDEX {
            return Err(Error::TooLong);
        }
        let slot = self.levels.get_mut(depth).ok_or(Error::TooLong)?;
        *slot = index;
        self.len += 1;
        Ok(())
    }

    /// The parent's coordinates (`None` for the root).
    pub fn parent(&self) -> Option<Self> {
        let depth = self.depth().checked_sub(1)?;
        let mut c = *self;
        c.levels[depth] = 0;
        c.len -= 1;
        Some(c)
    }

    /// Depth in the tree (the root is 0).
    pub fn depth(&self) -> usize {
        usize::from(self.len)
    }

    /// The child indices, root first.
    pub fn levels(&self) -> &[u16] {
        &self.levels[..self.depth()]
    }

    /// Length of the common prefix with `other`.
    pub fn common_prefix_len(&self, other: &Self) -> usize {
        self.levels()
            .iter()
            .zip(other.levels())
            .take_while(|(a, b)| a == b)
            .count()
    }

    /// Hop distance between the two positions in the tree:
    /// `depth(a) + depth(b) - 2 * cpl(a, b)`.
    pub fn tree_distance(&self, other: &Self) -> usize {
        self.depth() + other.depth() - 2 * self.common_prefix_len(other)
    }

    /// Whether `self` is `other` or one of its ancestors.
    pub fn is_prefix_of(&self, other: &Self) -> bool {
        self.common_prefix_len(other) == self.depth()
    }

    fn nibbles(&self) -> usize {
        self.levels()
            .iter()
            .map(|&l| if l < 15 { 1 } else { 3 })
            .sum()
    }

    /// Bytes of the nibble-encoded body (without the descriptor).
    pub fn body_len(&self) -> usize {
        self.nibbles().div_ceil(2)
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
        for (i, l) in self.levels().iter().enumerate() {
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

impl Address {
    /// Encoded length including the descriptor byte.
    pub fn buffer_len(&self) -> usize {
        1 + match self {
            Self::Coords(c) => c.body_len(),
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
                let depth = usize::from(low);
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
                // depth <= MAX_DEPTH (32) < 64 by construction.
                w.u8((TYPE_COORDS << 6) | c.len)?;
                write_coords(w, c)
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

fn write_coords(w: &mut Writer<'_>, c: &Coords) -> Result<()> {
    let mut hi: Option<u8> = None;
    let mut push = |n: u8, w: &mut Writer<'_>| -> Result<()> {
        match hi.take() {
            None => {
                hi = Some(n);
                Ok(())
            }
            Some(h) => w.u8(h << 4 | n),
        }
    };
    for &l in c.levels() {
        if l < 15 {
            // < 15 fits a nibble.
            push(l as u8, w)?;
        } else {
            let v = l - 15; // <= 255 by MAX_CHILD_INDEX
            push(15, w)?;
            push((v >> 4) as u8 & 0x0f, w)?;
            push(v as u8 & 0x0f, w)?;
        }
    }
    if let Some(h) = hi {
        w.u8(h << 4)?;
    }
    Ok(())
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
        assert_eq!(Address::parse(&[0x21]), Err(Error::BadAddress)); // depth 33
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
        assert_eq!(a.parent().unwrap().levels(), &[1, 2]);
        assert!(Coords::new(&[271]).is_err());
    }

    #[test]
    fn depth_8_worst_case_is_5_bytes() {
        let c = Coords::new(&[14; 8]).unwrap();
        assert_eq!(Address::Coords(c).buffer_len(), 5);
    }
}
