//! Spanning-tree control messages (`frames.md` §5.2).

use core::fmt;

use crate::address::{Address, NodeId};
use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

/// What a tree message does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// Announce a root (address: the root's coordinates).
    Claim = 1,
    /// Ask a neighbour to become the parent.
    JoinRequest = 2,
    /// A parent gives a child its coordinates.
    Assign = 3,
    /// Leave the parent.
    Leave = 4,
    /// A leaf or sleeping device asks for a leased address.
    LeaseRequest = 5,
    /// A lease is granted (address: the leased coordinates).
    LeaseGrant = 6,
}

impl TryFrom<u8> for Op {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Ok(match v {
            1 => Self::Claim,
            2 => Self::JoinRequest,
            3 => Self::Assign,
            4 => Self::Leave,
            5 => Self::LeaseRequest,
            6 => Self::LeaseGrant,
            _ => return Err(Error::Malformed),
        })
    }
}

/// The meaning of a Tree body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// What the message does.
    pub op: Op,
    /// Which tree (0..=7).
    pub tree: u8,
    /// The tree's epoch.
    pub epoch: u16,
    /// The node the message is about.
    pub subject: NodeId,
    /// Coordinates as `op` specifies.
    pub address: Address,
}

impl Repr {
    /// Parse a Tree body.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let op = Op::try_from(r.u8()?)?;
        let tree = r.u8()?;
        if tree > crate::routing::MAX_TREE {
            return Err(Error::Malformed);
        }
        let epoch = r.u16()?;
        let subject = NodeId(r.array()?);
        let address = Address::read(&mut r)?;
        if r.remaining() != 0 {
            return Err(Error::BadLength);
        }
        Ok(Self {
            op,
            tree,
            epoch,
            subject,
            address,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        12 + self.address.buffer_len()
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.tree > crate::routing::MAX_TREE {
            return Err(Error::Malformed);
        }
        let mut w = Writer::new(buf);
        w.u8(self.op as u8)?;
        w.u8(self.tree)?;
        w.u16(self.epoch)?;
        w.put(&self.subject.0)?;
        self.address.write(&mut w)?;
        Ok(w.pos())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tree {:?} t{} epoch {} {} {}",
            self.op, self.tree, self.epoch, self.subject, self.address
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Coords;

    static ASSIGN: [u8; 14] = [3, 1, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x40];

    #[test]
    fn test_parse_emit() {
        let t = Repr::parse(&ASSIGN).unwrap();
        assert_eq!(t.op, Op::Assign);
        assert_eq!(t.address, Address::Coords(Coords::new(&[4]).unwrap()));
        let mut buf = [0u8; 14];
        assert_eq!(t.emit(&mut buf).unwrap(), 14);
        assert_eq!(buf, ASSIGN);
        assert_eq!(Repr::parse(&[9; 14]), Err(Error::Malformed));
    }
}
