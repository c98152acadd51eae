//! Root candidacy bound to admitted identities (`security.md` §9.1): only a node whose
//! credential grants the *root-eligible* role becomes a tree root, claims are signed and
//! verified, and a forged claim from an insider without the role is dropped and counted.

#![allow(missing_docs, clippy::unwrap_used)]

use core::time::Duration;

use hyphae_core::security::Provisioner;
use hyphae_core::{
    Config, DropReason, Event, Instant, LinkAddr, LinkId, LinkInfo, LinkKind, NodeId, RxMeta,
    SimNode,
};
use hyphae_crypto::roles;
use hyphae_wire::frame::{Body, FrameRepr};
use hyphae_wire::{Address, Coords, TreeRepr, tree::Op};

fn addr(i: usize) -> LinkAddr {
    LinkAddr::new(&[2, 0, 0, 0, 0, i as u8]).unwrap()
}

/// A chain of `n` secured nodes (i hears i ± 1); node `root` alone is root-eligible.
struct Chain {
    nodes: Vec<Box<SimNode>>,
    /// Crashed nodes neither send nor receive.
    dead: Vec<bool>,
    ids: Vec<NodeId>,
    links: Vec<LinkId>,
    now: Instant,
}

const ADMIN: [u8; 32] = [7; 32];
const NAME: &[u8] = b"roots test";
const KEY: [u8; 32] = [9; 32];

fn seed(i: usize) -> [u8; 32] {
    [i as u8 + 1; 32]
}

impl Chain {
    fn new(n: usize, eligible: &[usize]) -> Self {
        let p = Provisioner::new(&ADMIN, NAME, KEY);
        let mut c = Self {
            nodes: Vec::new(),
            dead: vec![false; n],
            ids: Vec::new(),
            links: Vec::new(),
            now: Instant::ZERO,
        };
        for i in 0..n {
            let r = if eligible.contains(&i) {
                roles::ROUTER | roles::ROOT
            } else {
                roles::ROUTER
            };
            let (id, sec) = p.node_with_roles(&seed(i), None, r).unwrap();
            let mut node = Box::new(SimNode::new(
                Config {
                    beacon_interval: Duration::from_millis(500),
                    ..Config::default()
                },
                id,
                i as u64,
            ));
            c.links.push(
                node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
                    .unwrap(),
            );
            node.set_security(sec).unwrap();
            c.ids.push(id);
            c.nodes.push(node);
        }
        c
    }

    fn deliver(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let (now, l) = (self.now, self.links[to]);
        self.nodes[to].handle_datagram(now, l, addr(from), RxMeta::default(), bytes);
    }

    fn run(&mut self, ms: u64) {
        let mut buf = [0u8; 250];
        let n = self.nodes.len();
        for _ in 0..ms {
            self.now = self.now + Duration::from_millis(1);
            for i in 0..n {
                if self.dead[i] {
                    continue;
                }
                let now = self.now;
                if self.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                    self.nodes[i].handle_timeout(now);
                }
                while let Some(t) = self.nodes[i].poll_transmit(now, &mut buf) {
                    let bytes = buf[..t.len].to_vec();
                    for j in [i.wrapping_sub(1), i + 1] {
                        if j < n && !self.dead[j] {
                            self.deliver(i, j, &bytes);
                        }
                    }
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    if let Event::CounterReserve(r) = e {
                        self.nodes[i].counter_persisted(r);
                    }
                }
            }
        }
    }
}

#[test]
fn only_the_root_eligible_node_roots_every_tree() {
    let mut c = Chain::new(6, &[4]);
    c.run(40_000);
    let root = c.ids[4].short().0;
    for (i, n) in c.nodes.iter().enumerate() {
        assert!(n.tree_attached(), "node {i} attached");
        for t in 0..3 {
            assert_eq!(n.tree_root(t).map(|r| r.0), Some(root), "node {i} tree {t}");
        }
        assert_eq!(n.counters().drop_count(DropReason::Unauthenticated), 0);
    }
    // Node 0 is four hops from the root: it learnt the claim on demand, through node 1.
    assert!(
        c.nodes[0]
            .position()
            .iter()
            .all(|p| p.is_some_and(|p| p.depth() == 4))
    );
}

#[test]
fn a_forged_root_claim_is_dropped_and_counted() {
    let mut c = Chain::new(3, &[2]);
    c.run(20_000);
    let root = c.ids[2].short().0;
    assert_eq!(c.nodes[0].tree_root(0).map(|r| r.0), Some(root));
    // Node 0 (router role only) signs a claim for itself with its own key and credential and
    // sends it sealed with the network key: well-formed and authenticated on the link, but its
    // credential does not grant the root-eligible role.
    let p = Provisioner::new(&ADMIN, NAME, KEY);
    let (id0, mut sec) = p
        .node_with_roles(&seed(0), Some(1 << 24), roles::ROUTER)
        .unwrap();
    assert_eq!(id0, c.ids[0]);
    let claim = TreeRepr {
        op: Op::Claim,
        tree: 0,
        epoch: 0x7000,
        subject: id0,
        address: Address::Coords(Coords::ROOT),
    };
    let mut body = [0u8; 64];
    let n = Body::Tree(claim).emit(&mut body).unwrap();
    let inner = sec.inner_mut();
    let mut signed = [0u8; 256];
    let len = hyphae_crypto::control::sign_claim(
        inner.identity(),
        inner.credential(),
        inner.network_id(),
        &body[..n],
        &mut signed,
    )
    .unwrap();
    // Frame: common header, 5-byte security header, body with trailer, 16-byte tag.
    let mut plain = [0u8; 250];
    let hl = FrameRepr::new(Body::Tree(claim)).emit(&mut plain).unwrap() - n;
    let mut frame = vec![0u8; hl + 5 + len + 16];
    frame[..hl].copy_from_slice(&plain[..hl]);
    frame[hl + 5..hl + 5 + len].copy_from_slice(&signed[..len]);
    let mut store = hyphae_crypto::MemoryCounterStore::new();
    hyphae_crypto::replay::CounterStore::store(&mut store, 1 << 25).unwrap();
    inner.seal_group(&mut store, &mut frame, hl + 5).unwrap();
    let before = c.nodes[1]
        .counters()
        .drop_count(DropReason::Unauthenticated);
    c.deliver(0, 1, &frame);
    assert_eq!(
        c.nodes[1]
            .counters()
            .drop_count(DropReason::Unauthenticated),
        before + 1
    );
    c.run(10_000);
    // Nothing changed: node 1 still follows the eligible root and never adopted node 0.
    for t in 0..3 {
        assert_eq!(c.nodes[1].tree_root(t).map(|r| r.0), Some(root));
    }
}

#[test]
fn when_the_root_dies_the_other_eligible_node_takes_over_everywhere() {
    let mut c = Chain::new(6, &[0, 5]);
    c.run(30_000);
    let root = c.nodes[1].tree_root(0).map(|r| r.0).unwrap();
    let (gone, other) = if root == c.ids[0].short().0 {
        (0, 5)
    } else {
        (5, 0)
    };
    assert_eq!(root, c.ids[gone].short().0);
    c.dead[gone] = true;
    c.run(40_000);
    let want = c.ids[other].short().0;
    for i in (0..6).filter(|&i| i != gone) {
        assert!(c.nodes[i].tree_attached(), "node {i}");
        assert_eq!(c.nodes[i].tree_root(0).map(|r| r.0), Some(want), "node {i}");
        assert_eq!(
            c.nodes[i]
                .counters()
                .drop_count(DropReason::Unauthenticated),
            0
        );
    }
}
