//! Spanning-tree control messages (`frames.md` §5.2).
//!
//! ```text
//! op u8 | tree u8 | epoch u16 | subject node id (8) | address (`address`)
//! ```

use core::fmt;

use crate::address::{Address, NodeId};
use crate::cursor::{Reader, Writer};
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const OP: usize = 0;
    pub(super) const TREE: usize = 1;
    pub(super) const EPOCH: Range<usize> = 2..4;
    pub(super) const SUBJECT: Range<usize> = 4..12;
    pub(super) const ADDRESS: usize = SUBJECT.end;
}

/// Length of the fixed part, before the address.
pub const HEADER_LEN: usize = field::ADDRESS;
/// Bytes of the Ed25519 signature that may follow any Tree body (`security.md` §9).
pub const SIGNATURE_TRAILER: usize = 64;
/// Bytes that may follow a root claim: the root's signature and its 103-byte credential.
pub const CLAIM_TRAILER: usize = SIGNATURE_TRAILER + 103;

/// Whether `n` bytes after the address of a Tree body of `op` form a valid trailer: none, a
/// signature, or (claims only) a signature and a credential.
pub const fn valid_trailer(op: Op, n: usize) -> bool {
    n == 0 || n == SIGNATURE_TRAILER || (matches!(op, Op::Claim) && n == CLAIM_TRAILER)
}

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

impl Op {
    /// Every op, in numeric order.
    pub const ALL: [Self; 6] = [
        Self::Claim,
        Self::JoinRequest,
        Self::Assign,
        Self::Leave,
        Self::LeaseRequest,
        Self::LeaseGrant,
    ];
}

impl TryFrom<u8> for Op {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|o| *o as u8 == v)
            .ok_or(Error::Malformed)
    }
}

packet_view! {
    /// A read/write view over a Tree body.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than [`HEADER_LEN`] (the address is checked by
    /// [`Repr::parse`]).
    pub fn check_len(&self) -> Result<()> {
        if self.bytes().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// The raw op.
    pub fn op(&self) -> u8 {
        self.bytes()[field::OP]
    }
    /// The tree index.
    pub fn tree(&self) -> u8 {
        self.bytes()[field::TREE]
    }
    /// The epoch.
    pub fn epoch(&self) -> u16 {
        let b = &self.bytes()[field::EPOCH];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The node the message is about.
    pub fn subject(&self) -> NodeId {
        let mut id = [0; 8];
        id.copy_from_slice(&self.bytes()[field::SUBJECT]);
        NodeId(id)
    }
    /// The encoded address.
    pub fn address(&self) -> &[u8] {
        &self.bytes()[field::ADDRESS..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the op.
    pub fn set_op(&mut self, op: u8) {
        self.bytes_mut()[field::OP] = op;
    }
    /// Set the tree index.
    pub fn set_tree(&mut self, tree: u8) {
        self.bytes_mut()[field::TREE] = tree;
    }
    /// Set the epoch.
    pub fn set_epoch(&mut self, epoch: u16) {
        self.bytes_mut()[field::EPOCH].copy_from_slice(&epoch.to_le_bytes());
    }
    /// Set the subject.
    pub fn set_subject(&mut self, subject: NodeId) {
        self.bytes_mut()[field::SUBJECT].copy_from_slice(&subject.0);
    }
    /// The address bytes, writable.
    pub fn address_mut(&mut self) -> &mut [u8] {
        &mut self.bytes_mut()[field::ADDRESS..]
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
    /// Parse a Tree body; the address must end the body.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        let op = Op::try_from(packet.op())?;
        let tree = packet.tree();
        if tree > crate::routing::MAX_TREE {
            return Err(Error::Malformed);
        }
        let mut r = Reader::new(packet.address());
        let address = Address::read(&mut r)?;
        // The signed trailer (`security.md` §9) is checked by its verifier, not parsed here.
        if !valid_trailer(op, r.remaining()) {
            return Err(Error::BadLength);
        }
        Ok(Self {
            op,
            tree,
            epoch: packet.epoch(),
            subject: packet.subject(),
            address,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.address.buffer_len()
    }

    /// Emit into `packet`. `Err(Malformed)` for a tree index above 7, `Err(TooLong)` if the
    /// buffer is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.tree > crate::routing::MAX_TREE {
            return Err(Error::Malformed);
        }
        ensure_room!(packet, self.buffer_len());
        packet.set_op(self.op as u8);
        packet.set_tree(self.tree);
        packet.set_epoch(self.epoch);
        packet.set_subject(self.subject);
        self.address.write(&mut Writer::new(packet.address_mut()))
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

    // frames.md §8: assign, tree 1, epoch 7, node 0102030405060708 gets coordinates /4.
    static ASSIGN: [u8; 14] = [3, 1, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x40];

    fn repr() -> Repr {
        Repr {
            op: Op::Assign,
            tree: 1,
            epoch: 7,
            subject: NodeId([1, 2, 3, 4, 5, 6, 7, 8]),
            address: Address::Coords(Coords::new(&[4]).unwrap()),
        }
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&ASSIGN[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&[9u8; 14])),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 14];
        repr().emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, ASSIGN);
    }
}
