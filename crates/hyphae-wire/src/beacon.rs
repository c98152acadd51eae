//! Neighbour beacons (`frames.md` §5.1).
//!
//! ```text
//! node id (8) | caps u8 | seq u16 | interval u8 | tree count t
//! t × (root short id (4) | epoch u16 | root distance u8 | coordinates (address))
//! app count a | a × app id u16
//! ```

use core::fmt;

use crate::address::{Address, Coords, NodeId, ShortId};
use crate::cursor::{Reader, Writer};
use crate::package::AppId;
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const NODE: Range<usize> = 0..8;
    pub(super) const CAPS: usize = 8;
    pub(super) const SEQ: Range<usize> = 9..11;
    pub(super) const INTERVAL: usize = 11;
    pub(super) const TREE_COUNT: usize = 12;
    pub(super) const TREES: usize = 13;
}

/// Length of the fixed part, up to and including the tree count.
pub const HEADER_LEN: usize = field::TREES;
/// Encoded length of a tree entry without its coordinates.
pub const TREE_ENTRY_FIXED_LEN: usize = 7;

/// Most tree entries a beacon carries.
pub const MAX_TREES: usize = 8;
/// Most application ids a beacon carries.
pub const MAX_APPS: usize = 16;

/// Capability bits of a beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(pub u8);

impl Capabilities {
    /// Forwards traffic for others.
    pub const ROUTER: u8 = 1 << 0;
    /// Runs an MQTT gateway.
    pub const GATEWAY: u8 = 1 << 1;
    /// Sleeps in cycles: wake it with request-node-status before sending.
    pub const SLEEPY: u8 = 1 << 2;
    /// Does not join the trees (uses a leased address).
    pub const LEAF: u8 = 1 << 3;
    const MASK: u8 = 0x0f;

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

/// One tree's state as the beaconing node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TreeEntry {
    /// Short id of the tree's root.
    pub root: ShortId,
    /// The tree's epoch.
    pub epoch: u16,
    /// Hops from the root.
    pub root_distance: u8,
    /// The node's coordinates in this tree.
    pub coords: Coords,
}

packet_view! {
    /// A read/write view over a Beacon body.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than [`HEADER_LEN`] (the lists are checked by
    /// [`Repr::parse`]).
    pub fn check_len(&self) -> Result<()> {
        if self.bytes().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Who beacons.
    pub fn node(&self) -> NodeId {
        let mut id = [0; 8];
        id.copy_from_slice(&self.bytes()[field::NODE]);
        NodeId(id)
    }
    /// The raw capability bits.
    pub fn caps(&self) -> u8 {
        self.bytes()[field::CAPS]
    }
    /// The beacon sequence number.
    pub fn seq(&self) -> u16 {
        let b = &self.bytes()[field::SEQ];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The beacon interval in units of 100 ms.
    pub fn interval(&self) -> u8 {
        self.bytes()[field::INTERVAL]
    }
    /// The number of tree entries.
    pub fn tree_count(&self) -> u8 {
        self.bytes()[field::TREE_COUNT]
    }
    /// The tree entries and the application list, still encoded.
    pub fn lists(&self) -> &[u8] {
        &self.bytes()[field::TREES..]
    }
    /// The tree entries, decoded from the buffer one at a time (no `Repr` needed). Yields an
    /// error, then stops, at the first malformed entry.
    pub fn trees(&self) -> Trees<'_> {
        Trees {
            r: Reader::new(self.lists()),
            left: self.tree_count(),
        }
    }
    /// The application ids, decoded from the buffer (after walking the tree entries).
    pub fn apps(&self) -> Result<impl Iterator<Item = AppId> + '_> {
        let mut trees = self.trees();
        for t in trees.by_ref() {
            t?;
        }
        let mut r = trees.r;
        let n = usize::from(r.u8()?);
        if n > MAX_APPS {
            return Err(Error::BadLength);
        }
        let ids = r.take(2 * n)?;
        Ok(ids
            .chunks_exact(2)
            .map(|c| AppId(u16::from_le_bytes([c[0], c[1]]))))
    }
}

/// Iterator over the tree entries of a [`Packet`].
pub struct Trees<'a> {
    r: Reader<'a>,
    left: u8,
}

impl Iterator for Trees<'_> {
    type Item = Result<TreeEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let entry = (|| {
            let root = ShortId(self.r.array()?);
            let epoch = self.r.u16()?;
            let root_distance = self.r.u8()?;
            let Address::Coords(coords) = Address::read(&mut self.r)? else {
                return Err(Error::BadAddress);
            };
            Ok(TreeEntry {
                root,
                epoch,
                root_distance,
                coords,
            })
        })();
        if entry.is_err() {
            self.left = 0;
        }
        Some(entry)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the node id.
    pub fn set_node(&mut self, node: NodeId) {
        self.bytes_mut()[field::NODE].copy_from_slice(&node.0);
    }
    /// Set the capability bits.
    pub fn set_caps(&mut self, caps: u8) {
        self.bytes_mut()[field::CAPS] = caps;
    }
    /// Set the sequence number.
    pub fn set_seq(&mut self, seq: u16) {
        self.bytes_mut()[field::SEQ].copy_from_slice(&seq.to_le_bytes());
    }
    /// Set the interval.
    pub fn set_interval(&mut self, interval: u8) {
        self.bytes_mut()[field::INTERVAL] = interval;
    }
    /// Set the tree count.
    pub fn set_tree_count(&mut self, count: u8) {
        self.bytes_mut()[field::TREE_COUNT] = count;
    }
    /// The lists, writable.
    pub fn lists_mut(&mut self) -> &mut [u8] {
        &mut self.bytes_mut()[field::TREES..]
    }
}

/// The meaning of a Beacon body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Who beacons.
    pub node: NodeId,
    /// What it can do.
    pub caps: Capabilities,
    /// Beacon sequence number, for loss estimation.
    pub seq: u16,
    /// Beacon interval in units of 100 ms (1..=255).
    pub interval: u8,
    tree_count: u8,
    trees: [TreeEntry; MAX_TREES],
    app_count: u8,
    apps: [u16; MAX_APPS],
}

impl Repr {
    /// A beacon without trees or applications.
    pub fn new(node: NodeId, caps: Capabilities, seq: u16, interval: u8) -> Self {
        Self {
            node,
            caps,
            seq,
            interval,
            tree_count: 0,
            trees: [TreeEntry::default(); MAX_TREES],
            app_count: 0,
            apps: [0; MAX_APPS],
        }
    }

    /// The tree entries.
    pub fn trees(&self) -> &[TreeEntry] {
        &self.trees[..usize::from(self.tree_count)]
    }

    /// The application ids.
    pub fn apps(&self) -> impl Iterator<Item = AppId> + '_ {
        self.apps[..usize::from(self.app_count)]
            .iter()
            .map(|&a| AppId(a))
    }

    /// Add a tree entry; `Err(TooLong)` beyond [`MAX_TREES`].
    pub fn push_tree(&mut self, entry: TreeEntry) -> Result<()> {
        let slot = self
            .trees
            .get_mut(usize::from(self.tree_count))
            .ok_or(Error::TooLong)?;
        *slot = entry;
        self.tree_count += 1;
        Ok(())
    }

    /// Add an application id; `Err(TooLong)` beyond [`MAX_APPS`], `Err(Malformed)` for a
    /// reserved id.
    pub fn push_app(&mut self, app: AppId) -> Result<()> {
        if app.is_reserved() {
            return Err(Error::Malformed);
        }
        let slot = self
            .apps
            .get_mut(usize::from(self.app_count))
            .ok_or(Error::TooLong)?;
        *slot = app.get();
        self.app_count += 1;
        Ok(())
    }

    /// Parse a Beacon body; the application list must end the body.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        let caps = packet.caps();
        if caps & !Capabilities::MASK != 0 || packet.interval() == 0 {
            return Err(Error::Malformed);
        }
        let mut b = Self::new(
            packet.node(),
            Capabilities(caps),
            packet.seq(),
            packet.interval(),
        );
        if usize::from(packet.tree_count()) > MAX_TREES {
            return Err(Error::BadLength);
        }
        let mut trees = packet.trees();
        for t in trees.by_ref() {
            b.push_tree(t?)?;
        }
        let mut r = trees.r;
        let apps = r.u8()?;
        if usize::from(apps) > MAX_APPS {
            return Err(Error::BadLength);
        }
        for _ in 0..apps {
            b.push_app(AppId::new(r.u16()?).ok_or(Error::Malformed)?)?;
        }
        if r.remaining() != 0 {
            return Err(Error::BadLength);
        }
        Ok(b)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + 1
            + self
                .trees()
                .iter()
                .map(|t| TREE_ENTRY_FIXED_LEN + Address::Coords(t.coords).buffer_len())
                .sum::<usize>()
            + 2 * usize::from(self.app_count)
    }

    /// Emit into `packet`. `Err(Malformed)` for an interval of 0 or unknown capability bits,
    /// `Err(TooLong)` if the buffer is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.interval == 0 || self.caps.0 & !Capabilities::MASK != 0 {
            return Err(Error::Malformed);
        }
        ensure_room!(packet, self.buffer_len());
        packet.set_node(self.node);
        packet.set_caps(self.caps.0);
        packet.set_seq(self.seq);
        packet.set_interval(self.interval);
        packet.set_tree_count(self.tree_count);
        let mut w = Writer::new(packet.lists_mut());
        for t in self.trees() {
            w.put(&t.root.0)?;
            w.u16(t.epoch)?;
            w.u8(t.root_distance)?;
            Address::Coords(t.coords).write(&mut w)?;
        }
        w.u8(self.app_count)?;
        for a in &self.apps[..usize::from(self.app_count)] {
            w.u16(*a)?;
        }
        Ok(())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "beacon {} seq {} caps {:02x}",
            self.node, self.seq, self.caps.0
        )?;
        for (i, t) in self.trees().iter().enumerate() {
            write!(f, " t{i}:{}@{}", t.root, t.coords)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // frames.md §8: node 0102030405060708, router + gateway, seq 42, interval 1 s, one tree
    // (root 09090909, epoch 5, distance 2, coordinates /1.3), applications 0x1234 and 0x5678.
    static BEACON: [u8; 27] = [
        1, 2, 3, 4, 5, 6, 7, 8,    // node id
        0x03, // router + gateway
        0x2a, 0x00, // seq 42
        0x0a, // 1 s
        0x01, // one tree
        9, 9, 9, 9, 0x05, 0x00, 0x02, 0x02, 0x13, // root, epoch 5, distance 2, /1.3
        0x02, 0x34, 0x12, 0x78, 0x56, // two apps
    ];

    fn repr() -> Repr {
        let mut b = Repr::new(
            NodeId([1, 2, 3, 4, 5, 6, 7, 8]),
            Capabilities(Capabilities::ROUTER | Capabilities::GATEWAY),
            42,
            10,
        );
        b.push_tree(TreeEntry {
            root: ShortId([9; 4]),
            epoch: 5,
            root_distance: 2,
            coords: Coords::new(&[1, 3]).unwrap(),
        })
        .unwrap();
        b.push_app(AppId::new(0x1234).unwrap()).unwrap();
        b.push_app(AppId::new(0x5678).unwrap()).unwrap();
        b
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&BEACON[..]).unwrap();
        assert_eq!((p.seq(), p.interval(), p.tree_count()), (42, 10, 1));
        let b = Repr::parse(&p).unwrap();
        assert_eq!(b, repr());
        assert!(b.caps.has(Capabilities::GATEWAY));
        assert_eq!(b.apps().count(), 2);
        let mut trees = p.trees();
        assert_eq!(trees.next(), Some(Ok(b.trees()[0])));
        assert_eq!(trees.next(), None);
        let apps: [u16; 2] = {
            let mut it = p.apps().unwrap().map(AppId::get);
            [it.next().unwrap(), it.next().unwrap()]
        };
        assert_eq!(apps, [0x1234, 0x5678]);
        let mut long = [0u8; 28];
        long[..27].copy_from_slice(&BEACON);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&long)),
            Err(Error::BadLength)
        );
        for n in 0..BEACON.len() {
            assert!(Repr::parse(&Packet::new_unchecked(&BEACON[..n])).is_err());
        }
    }

    #[test]
    fn test_emit() {
        assert_eq!(repr().buffer_len(), 27);
        let mut buf = [0u8; 27];
        repr().emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, BEACON);
    }
}
