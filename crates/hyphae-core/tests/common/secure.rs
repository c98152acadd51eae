//! Secured networks for adversarial tests: `SimNode`s provisioned by one admin (tree routing by
//! default), a millisecond clock, an adjacency matrix, every frame on the air recorded, and what
//! an admitted insider can do — seal any plain frame under the network key in another node's
//! name and put it on the air from that node's link address.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use core::time::Duration;

use hyphae_core::security::Provisioner;
use hyphae_core::{
    AppId, Config, DropReason, Event, Instant, LinkAddr, LinkInfo, LinkKind, NodeId, RxMeta,
    SimNode,
};
use hyphae_crypto::frame::Protection;
use hyphae_crypto::{FrameKey, Identity, NetworkKey, ReplayWindow, Suite};
use hyphae_wire::frame::Frame;

/// The network key every node holds.
pub const NETWORK_KEY: [u8; 32] = [9; 32];
/// The admin's identity seed.
pub const ADMIN: [u8; 32] = [7; 32];
/// The network name.
pub const NAME: &[u8] = b"hyphae test";
/// The application every node registers.
pub const APP: &str = "secure-test";

/// Node `i`'s link address.
pub fn addr(i: usize) -> LinkAddr {
    LinkAddr::new(&[2, 0, 0, 0, 0, i as u8]).unwrap()
}

/// Node `i`'s identity seed.
pub fn seed(i: usize) -> [u8; 32] {
    [i as u8 + 1; 32]
}

/// Node `i`'s identity (the tests hold every key, so they can play any insider).
pub fn identity(i: usize) -> Identity {
    Identity::from_seed(&seed(i))
}

/// The network id every signature covers.
pub fn network_id() -> [u8; 32] {
    hyphae_crypto::control::network_id(NAME)
}

fn cid(id: NodeId) -> hyphae_crypto::NodeId {
    hyphae_crypto::NodeId(id.0)
}

/// The group frame key.
pub fn group_key() -> FrameKey {
    NetworkKey::new(NETWORK_KEY, 0).frame_key(Suite::default())
}

/// Seal a plain frame as `sender` under the network key: what any admitted insider can do.
/// Bytes that do not parse as a frame are sealed as a frame without routing header.
pub fn seal_as(sender: NodeId, counter: u32, plain: &[u8]) -> Vec<u8> {
    let body_offset = Frame::parse(plain).map_or(2, |f| f.body_offset);
    let mut out = vec![0u8; plain.len() + 21];
    out[..2].copy_from_slice(&plain[..2]);
    out[7..7 + plain.len() - 2].copy_from_slice(&plain[2..]);
    hyphae_crypto::seal_frame(
        &group_key(),
        &cid(sender),
        counter,
        &mut out,
        body_offset + 5,
        Protection::for_kind(plain[0] & 0x1f),
    )
    .unwrap();
    out
}

/// Open a frame `sender` sealed under the network key into its plain layout.
pub fn open_as(sender: NodeId, sealed: &[u8]) -> Option<Vec<u8>> {
    let f = Frame::parse(sealed).ok()?;
    let mut buf = sealed.to_vec();
    let body = hyphae_crypto::open_frame(
        &group_key(),
        &cid(sender),
        &mut buf,
        f.body_offset,
        Protection::for_kind(sealed[0] & 0x1f),
        &mut ReplayWindow::new(),
    )
    .ok()?;
    let mut plain = vec![buf[0], buf[1] & 0x7f];
    plain.extend_from_slice(&buf[7..f.body_offset]);
    plain.extend_from_slice(&buf[body]);
    Some(plain)
}

/// A secured network.
pub struct SecureNet {
    pub prov: Provisioner,
    pub nodes: Vec<Box<SimNode>>,
    pub ids: Vec<NodeId>,
    pub apps: Vec<AppId>,
    pub now: Instant,
    /// Who hears whom.
    pub adj: Vec<Vec<bool>>,
    /// Every frame put on the air: (from, to, bytes).
    pub air: Vec<(usize, LinkAddr, Vec<u8>)>,
    /// Deliveries: (at, from, payload).
    pub got: Vec<(usize, NodeId, Vec<u8>)>,
    /// The highest frame counter each node used on the air (an insider forging in a node's name
    /// uses the next one, so the genuine node loses at most one frame to the replay window).
    pub counters: Vec<u32>,
    /// Counters used by forgeries: (node, counter).
    pub forged: Vec<(usize, u32)>,
}

impl SecureNet {
    /// `n` nodes, all hearing each other; node `i`'s credential grants `roles(i)`.
    pub fn new(n: usize, config: Config, roles: impl Fn(usize) -> u8) -> Self {
        let mut s = Self {
            prov: Provisioner::new(&ADMIN, NAME, NETWORK_KEY),
            nodes: Vec::new(),
            ids: Vec::new(),
            apps: Vec::new(),
            now: Instant::ZERO,
            adj: vec![vec![true; n]; n],
            air: Vec::new(),
            got: Vec::new(),
            counters: vec![0; n],
            forged: Vec::new(),
        };
        for i in 0..n {
            let (id, sec) = s.prov.node_with_roles(&seed(i), None, roles(i)).unwrap();
            let mut node = Box::new(SimNode::new(config, id, i as u64 + 100));
            node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
                .unwrap();
            s.apps.push(node.register_app(APP).unwrap());
            node.set_security(sec).unwrap();
            s.ids.push(id);
            s.nodes.push(node);
        }
        s
    }

    /// A line 0 – 1 – … – n−1 (tree routing), node `root` alone root-eligible.
    pub fn line(n: usize, root: usize) -> Self {
        let config = Config {
            beacon_interval: Duration::from_millis(500),
            ..Config::default()
        };
        let mut s = Self::new(n, config, |i| {
            let r = hyphae_crypto::roles::ROUTER;
            if i == root {
                r | hyphae_crypto::roles::ROOT
            } else {
                r
            }
        });
        for i in 0..n {
            for j in 0..n {
                s.adj[i][j] = i.abs_diff(j) == 1;
            }
        }
        s
    }

    /// Replace node `i` (before the network runs) by one with the same identity and roles
    /// `roles` but configuration `config`.
    pub fn rebuild(&mut self, i: usize, config: Config, roles: u8) {
        let (id, sec) = self.prov.node_with_roles(&seed(i), None, roles).unwrap();
        let mut node = Box::new(SimNode::new(config, id, i as u64 + 100));
        node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
            .unwrap();
        self.apps[i] = node.register_app(APP).unwrap();
        node.set_security(sec).unwrap();
        self.nodes[i] = node;
    }

    /// Put `bytes` on the air at node `to` as if from node `from`'s link address.
    pub fn inject(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let now = self.now;
        self.nodes[to].handle_datagram(
            now,
            hyphae_core::LinkId(0),
            addr(from),
            RxMeta::default(),
            bytes,
        );
    }

    /// Seal `plain` in node `as_node`'s name under the network key and put it on the air from
    /// its address at node `to`. The counter is one the node recently used under a link key
    /// (never seen under the network key, so the forgery does not move the group-key replay
    /// window ahead of the node's genuine frames), else its next counter.
    pub fn forge(&mut self, as_node: usize, to: usize, plain: &[u8]) {
        let top = self.counters[as_node];
        let spare = self
            .air
            .iter()
            .rev()
            .filter(|(i, _, f)| *i == as_node && f.len() >= 7 && f[1] & 0x80 != 0 && f[2] >> 6 == 1)
            .map(|(_, _, f)| u32::from_le_bytes([f[3], f[4], f[5], f[6]]))
            .find(|c| top - c < 60 && !self.forged.contains(&(as_node, *c)));
        let counter = spare.unwrap_or_else(|| {
            self.counters[as_node] += 1;
            self.counters[as_node]
        });
        self.forged.push((as_node, counter));
        let sealed = seal_as(self.ids[as_node], counter, plain);
        self.inject(as_node, to, &sealed);
    }

    /// Run for `ms` milliseconds.
    pub fn run(&mut self, ms: u64) {
        let mut buf = [0u8; 250];
        for _ in 0..ms {
            self.now = self.now + Duration::from_millis(1);
            for i in 0..self.nodes.len() {
                let now = self.now;
                if self.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                    self.nodes[i].handle_timeout(now);
                }
                while let Some(t) = self.nodes[i].poll_transmit(now, &mut buf) {
                    let bytes = buf[..t.len].to_vec();
                    if bytes.len() >= 7 && bytes[1] & 0x80 != 0 {
                        let c = u32::from_le_bytes([bytes[3], bytes[4], bytes[5], bytes[6]]);
                        self.counters[i] = self.counters[i].max(c);
                    }
                    self.air.push((i, t.to, bytes.clone()));
                    for j in 0..self.nodes.len() {
                        if j != i && self.adj[i][j] && (t.to.is_broadcast() || t.to == addr(j)) {
                            self.inject(i, j, &bytes);
                        }
                    }
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    match e {
                        Event::CounterReserve(r) => self.nodes[i].counter_persisted(r),
                        Event::Delivered(d) => {
                            let mut out = vec![0u8; d.len];
                            self.nodes[i].take_delivery(d.id, &mut out).unwrap();
                            self.got.push((i, d.from, out));
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Send `data` from node `from` to node `to` on the test application.
    pub fn send(&mut self, from: usize, to: usize, data: &[u8]) {
        let (now, app, dest) = (self.now, self.apps[from], self.ids[to]);
        self.nodes[from].send(now, app, dest, data).unwrap();
    }

    /// Whether node `at` received `data`.
    pub fn delivered(&self, at: usize, data: &[u8]) -> bool {
        self.got.iter().any(|(i, _, p)| *i == at && p == data)
    }

    /// Drops of `r` at node `i`.
    pub fn drops(&self, i: usize, r: DropReason) -> u64 {
        self.nodes[i].counters().drop_count(r)
    }
}
