//! Neighbour beacons (`frames.md` §5.1).

use core::fmt;

use crate::address::{Address, Coords, NodeId, ShortId};
use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};
use crate::package::AppId;

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

    /// Add an application id; `Err(TooLong)` beyond [`MAX_APPS`].
    pub fn push_app(&mut self, app: AppId) -> Result<()> {
        let slot = self
            .apps
            .get_mut(usize::from(self.app_count))
            .ok_or(Error::TooLong)?;
        *slot = app.0;
        self.app_count += 1;
        Ok(())
    }

    /// Parse a Beacon body.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let node = NodeId(r.array()?);
        let caps = r.u8()?;
        if caps & !Capabilities::MASK != 0 {
            return Err(Error::Malformed);
        }
        let seq = r.u16()?;
        let interval = r.u8()?;
        if interval == 0 {
            return Err(Error::Malformed);
        }
        let mut b = Self::new(node, Capabilities(caps), seq, interval);
        let trees = r.u8()?;
        if usize::from(trees) > MAX_TREES {
            return Err(Error::BadLength);
        }
        for _ in 0..trees {
            let root = ShortId(r.array()?);
            let epoch = r.u16()?;
            let root_distance = r.u8()?;
            let Address::Coords(coords) = Address::read(&mut r)? else {
                return Err(Error::BadAddress);
            };
            b.push_tree(TreeEntry {
                root,
                epoch,
                root_distance,
                coords,
            })?;
        }
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
        14 + self
            .trees()
            .iter()
            .map(|t| 7 + Address::Coords(t.coords).buffer_len())
            .sum::<usize>()
            + 2 * usize::from(self.app_count)
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.interval == 0 || self.caps.0 & !Capabilities::MASK != 0 {
            return Err(Error::Malformed);
        }
        let mut w = Writer::new(buf);
        w.put(&self.node.0)?;
        w.u8(self.caps.0)?;
        w.u16(self.seq)?;
        w.u8(self.interval)?;
        w.u8(self.tree_count)?;
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
        Ok(w.pos())
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

    static BEACON: [u8; 28] = [
        1, 2, 3, 4, 5, 6, 7, 8,    // node id
        0x03, // router + gateway
        0x2a, 0x00, // seq 42
        0x0a, // 1 s
        0x01, // one tree
        9, 9, 9, 9, 0x05, 0x00, 0x02, 0x02, 0x13, // root, epoch 5, distance 2, /1.3
        0x02, 0x34, 0x12, 0x78, 0x56, // two apps
        0xff, // trailing garbage (tests cut it)
    ];

    #[test]
    fn test_parse_emit() {
        let body = &BEACON[..27];
        let b = Repr::parse(body).unwrap();
        assert_eq!(b.node, NodeId([1, 2, 3, 4, 5, 6, 7, 8]));
        assert!(b.caps.has(Capabilities::GATEWAY));
        assert_eq!(b.trees().len(), 1);
        assert_eq!(b.trees()[0].coords, Coords::new(&[1, 3]).unwrap());
        assert_eq!(b.apps().count(), 2);
        assert_eq!(b.buffer_len(), 27);
        let mut buf = [0u8; 27];
        assert_eq!(b.emit(&mut buf).unwrap(), 27);
        assert_eq!(&buf[..], body);
        assert_eq!(Repr::parse(&BEACON), Err(Error::BadLength));
    }
}
