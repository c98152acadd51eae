//! The signed control plane, adversarially (`docs/spec/security.md` §9): tree messages are
//! signed by their sender and service announcements by their provider; an admitted insider
//! who forges an assignment in another parent's name, assigns coordinates that do not extend
//! its own, detaches someone else's child or announces a service for another node is refused
//! and counted, while honest traffic still routes and services are still found. Random bytes
//! after a signed tree body never panic a node.

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use common::secure::{SecureNet, identity, network_id};
use hyphae_core::node::SERVICE_TOPIC;
use hyphae_core::{Coords, DropReason};
use hyphae_crypto::control::{Signed, sign_control, sign_service};
use hyphae_wire::frame::{Body, FrameRepr};
use hyphae_wire::gossip::Body as GossipBody;
use hyphae_wire::tree::Op;
use hyphae_wire::{Address, GossipRepr, ServiceRepr, TreeRepr};
use proptest::prelude::*;

/// A line 0 – 1 – 2 – 3 – 4 rooted at node 4, settled.
fn settled() -> SecureNet {
    let mut n = SecureNet::line(5, 4);
    n.run(40_000);
    for i in 0..5 {
        assert!(n.nodes[i].tree_attached(), "node {i} attached");
    }
    n
}

/// A plain one-hop frame carrying Tree body `msg` signed by node `signer`.
fn signed_tree(signer: usize, msg: TreeRepr) -> Vec<u8> {
    let mut body = [0u8; 96];
    let len = Body::Tree(msg).emit(&mut body).unwrap();
    let sig = sign_control(Signed::Tree, &identity(signer), &network_id(), &body[..len]);
    let mut buf = [0u8; 250];
    let n = FrameRepr::new(Body::SignedTree(msg, &sig))
        .emit(&mut buf)
        .unwrap();
    buf[..n].to_vec()
}

fn security_drops(n: &SecureNet, i: usize) -> [u64; 3] {
    [
        n.drops(i, DropReason::Unauthenticated),
        n.drops(i, DropReason::Unauthorized),
        n.drops(i, DropReason::Malformed),
    ]
}

#[test]
fn honest_signed_trees_route_and_every_node_holds_its_signed_assignment() {
    let mut n = settled();
    let key = |i: usize| *identity(i).public();
    for i in 0..4 {
        for t in 0..3 {
            let a = n.nodes[i].assignment(t).unwrap();
            // The parent along the line, signing this node's current coordinates.
            assert_eq!(a.signer, n.ids[i + 1], "node {i} tree {t}");
            assert_eq!(a.body.op, Op::Assign);
            assert_eq!(a.body.subject, n.ids[i]);
            assert_eq!(
                Some(a.body.address),
                n.nodes[i].position()[t].map(Address::Coords)
            );
            let mut body = [0u8; 96];
            let len = Body::Tree(a.body).emit(&mut body).unwrap();
            hyphae_crypto::control::verify_control(
                Signed::Tree,
                &key(i + 1),
                &network_id(),
                &body[..len],
                &a.signature,
            )
            .unwrap();
        }
    }
    // The root holds none: nobody assigned its coordinates.
    assert!(n.nodes[4].assignment(0).is_none());
    for i in 0..5 {
        assert_eq!(security_drops(&n, i), [0, 0, 0], "node {i}");
    }
    n.send(0, 4, b"end to end over signed trees");
    n.run(3_000);
    assert!(n.delivered(4, b"end to end over signed trees"));
}

#[test]
fn an_assign_forged_in_another_parents_name_is_rejected() {
    let mut n = settled();
    let before = n.nodes[1].position();
    let unauthenticated = n.drops(1, DropReason::Unauthenticated);
    // Node 0 (an insider) tells node 1, from its parent's address and in its parent's name,
    // that it now sits below node 0; node 0 can only sign with its own key.
    let own = n.nodes[0].position()[0].unwrap();
    let forged = TreeRepr {
        op: Op::Assign,
        tree: 0,
        epoch: n.nodes[1].tree_root(0).unwrap().1,
        subject: n.ids[1],
        address: Address::Coords(own.child(9).unwrap()),
    };
    let plain = signed_tree(0, forged);
    n.forge(2, 1, &plain);
    assert_eq!(n.drops(1, DropReason::Unauthenticated), unauthenticated + 1);
    // Unsigned, the same assign is refused too.
    let mut buf = [0u8; 250];
    let len = FrameRepr::new(Body::Tree(forged)).emit(&mut buf).unwrap();
    n.forge(2, 1, &buf[..len]);
    assert_eq!(n.drops(1, DropReason::Unauthenticated), unauthenticated + 2);
    n.run(5_000);
    assert_eq!(n.nodes[1].position(), before);
    assert_eq!(n.nodes[1].assignment(0).unwrap().signer, n.ids[2]);
}

#[test]
fn an_assign_that_does_not_extend_the_parents_coordinates_is_rejected() {
    let mut n = settled();
    let before = n.nodes[1].position();
    let parent = n.nodes[2].position()[0].unwrap();
    let epoch = n.nodes[1].tree_root(0).unwrap().1;
    // Node 2, the real parent, turned insider: it signs assignments that are not one level
    // below its own coordinates — two levels below, a sibling's, and the root's.
    let deeper = parent.child(3).unwrap().child(1).unwrap();
    let sibling = parent.parent().unwrap().child(7).unwrap();
    for (k, c) in [deeper, sibling, Coords::ROOT].into_iter().enumerate() {
        let msg = TreeRepr {
            op: Op::Assign,
            tree: 0,
            epoch,
            subject: n.ids[1],
            address: Address::Coords(c),
        };
        let plain = signed_tree(2, msg);
        let was = n.drops(1, DropReason::Unauthorized);
        n.forge(2, 1, &plain);
        assert_eq!(n.drops(1, DropReason::Unauthorized), was + 1, "case {k}");
    }
    n.run(5_000);
    assert_eq!(n.nodes[1].position(), before);
    assert_eq!(n.drops(1, DropReason::Unauthenticated), 0);
}

#[test]
fn a_forged_leave_cannot_detach_someone_elses_child() {
    let mut n = settled();
    // Link-keyed traffic both ways first: the insider reuses counters its victims sealed
    // under link keys (holes in their group-key replay windows), so the forgeries do not
    // push those windows ahead of the victims' genuine beacons.
    let bulk = [7u8; 600];
    n.send(0, 4, &bulk);
    n.send(4, 0, &bulk);
    n.run(3_000);
    assert!(n.delivered(4, &bulk) && n.delivered(0, &bulk));
    let before: Vec<_> = (0..5).map(|i| n.nodes[i].position()).collect();
    let leave = |n: &SecureNet, t: u8| TreeRepr {
        op: Op::Leave,
        tree: t,
        epoch: n.nodes[1].tree_root(usize::from(t)).unwrap().1,
        subject: n.ids[1],
        address: Address::Coords(n.nodes[1].position()[usize::from(t)].unwrap()),
    };
    for t in 0..3u8 {
        // Node 0 tells node 2, in node 1's name and from its address, that node 1 leaves.
        let plain = signed_tree(0, leave(&n, t));
        let was = n.drops(2, DropReason::Unauthenticated);
        n.forge(1, 2, &plain);
        assert_eq!(n.drops(2, DropReason::Unauthenticated), was + 1);
        // Node 3, a neighbour of node 2, from its own address and signed by itself: a leave
        // naming neither its sender nor its receiver is not the sender's to give.
        let plain = signed_tree(3, leave(&n, t));
        let was = n.drops(2, DropReason::Unauthorized);
        n.forge(3, 2, &plain);
        assert_eq!(n.drops(2, DropReason::Unauthorized), was + 1);
    }
    n.run(5_000);
    let after: Vec<_> = (0..5).map(|i| n.nodes[i].position()).collect();
    assert_eq!(after, before);
    n.send(4, 0, b"still routed");
    n.run(3_000);
    assert!(n.delivered(0, b"still routed"));
}

/// A gossip frame from node `origin` carrying the service payload `payload`.
fn service_gossip(n: &SecureNet, origin: usize, id: u16, payload: &[u8]) -> Vec<u8> {
    let g = GossipRepr {
        hops_left: 6,
        origin: n.ids[origin].short(),
        id,
        topic: SERVICE_TOPIC,
        body: GossipBody::Data(payload),
    };
    let mut buf = [0u8; 250];
    let len = FrameRepr::new(Body::Gossip(g)).emit(&mut buf).unwrap();
    buf[..len].to_vec()
}

#[test]
fn a_service_announced_for_another_provider_is_rejected() {
    let mut n = settled();
    let app = n.apps[3];
    let now = n.now;
    n.nodes[3].announce_service(now, "mqtt", app).unwrap();
    n.run(3_000);
    // Honest: node 3's signed announcement reaches every node, inline in one gossip frame:
    // 2 (header) + 5 (security) + 9 (gossip) + 19 (body: one 4-byte name) + 64 + 103
    // (signature, credential) + 16 (tag) = 218 B.
    for i in [0, 1, 2, 4] {
        let p = n.nodes[i].find_service("mqtt").unwrap();
        assert_eq!(p.node, n.ids[3], "node {i}");
    }
    let sizes: Vec<usize> = n
        .air
        .iter()
        .filter(|(i, _, f)| *i == 3 && f[0] & 0x1f == 9)
        .map(|(_, _, f)| f.len())
        .collect();
    assert!(sizes.contains(&218), "{sizes:?}");
    // Tree messages are signed on the air: a signed assign at depth 1 is 2 + 5 + 14 + 64 + 16.
    assert!(
        n.air
            .iter()
            .any(|(i, _, f)| *i == 4 && f[0] & 0x1f == 8 && f.len() == 101)
    );
    // Node 0 announces "broker" under node 3's provider id: signed with its own key and
    // credential (the credential names node 0), or with node 3's credential attached.
    let mut body = [0u8; 64];
    let mut s = ServiceRepr::new(n.ids[3], 9, 60);
    s.push(hyphae_wire::service::Entry {
        app,
        name: "broker",
    })
    .unwrap();
    let len = Body::Service(s).emit(&mut body).unwrap();
    let (_, sec0) = n
        .prov
        .node_with_roles(&common::secure::seed(0), None, hyphae_crypto::roles::ROUTER)
        .unwrap();
    let (_, sec3) = n
        .prov
        .node_with_roles(&common::secure::seed(3), None, hyphae_crypto::roles::ROUTER)
        .unwrap();
    let mut own = sec0;
    let mut out = [0u8; 250];
    // sign_service refuses a body naming another provider: build the forgery by hand.
    let inner = own.inner_mut();
    assert!(
        sign_service(
            inner.identity(),
            inner.credential(),
            &network_id(),
            &body[..len],
            &mut out
        )
        .is_err()
    );
    let sig = sign_control(
        Signed::Service,
        inner.identity(),
        &network_id(),
        &body[..len],
    );
    let mut forged = body[..len].to_vec();
    forged.extend_from_slice(&sig);
    let mut cred = [0u8; 103];
    inner.credential().emit(&mut cred).unwrap();
    forged.extend_from_slice(&cred);
    let frame = service_gossip(&n, 0, 0x7001, &forged);
    let was = n.drops(1, DropReason::Unauthorized);
    n.forge(0, 1, &frame);
    assert_eq!(n.drops(1, DropReason::Unauthorized), was + 1);
    // The provider's credential attached instead: the signature is not the provider's.
    let mut other = sec3;
    other.inner_mut().credential().emit(&mut cred).unwrap();
    forged.truncate(len + 64);
    forged.extend_from_slice(&cred);
    let frame = service_gossip(&n, 0, 0x7002, &forged);
    let was = n.drops(1, DropReason::Unauthenticated);
    n.forge(0, 1, &frame);
    assert_eq!(n.drops(1, DropReason::Unauthenticated), was + 1);
    // Unsigned (the format of an unsecured network).
    let frame = service_gossip(&n, 0, 0x7003, &body[..len]);
    n.forge(0, 1, &frame);
    assert_eq!(n.drops(1, DropReason::Unauthenticated), was + 2);
    n.run(3_000);
    for i in 1..5 {
        assert!(n.nodes[i].find_service("broker").is_none(), "node {i}");
        assert_eq!(n.nodes[i].find_service("mqtt").unwrap().node, n.ids[3]);
    }
}

#[test]
fn random_bytes_after_a_signed_tree_body_never_panic() {
    // Node 1 is the root; node 2, an insider next to both, sends node 0 the random frames in
    // its own name (so only its own replay window at node 0 moves).
    let mut n = SecureNet::line(3, 1);
    n.adj[0][2] = true;
    n.adj[2][0] = true;
    n.run(5_000);
    let base = TreeRepr {
        op: Op::Assign,
        tree: 0,
        epoch: 1,
        subject: n.ids[0],
        address: Address::Coords(Coords::ROOT.child(1).unwrap()),
    };
    let valid = signed_tree(2, base);
    let hl = valid.len() - base.buffer_len() - 64;
    let net = std::cell::RefCell::new(n);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
    runner
        .run(
            &(
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..200),
                any::<bool>(),
            ),
            |(op, tail, whole)| {
                let mut n = net.borrow_mut();
                let mut frame = valid[..hl].to_vec();
                if whole {
                    // Any body at all under the Tree kind.
                    frame.extend_from_slice(&tail);
                } else {
                    // A well-formed body of any op, then any trailer.
                    let mut body = valid[hl..hl + base.buffer_len()].to_vec();
                    body[0] = op % 8;
                    frame.extend_from_slice(&body);
                    frame.extend_from_slice(&tail);
                }
                n.forge(2, 0, &frame);
                n.run(1);
                Ok(())
            },
        )
        .unwrap();
    let mut n = net.into_inner();
    // The node still works: it is still attached to its root.
    n.run(3_000);
    assert!(n.nodes[0].tree_attached());
    assert_eq!(n.nodes[0].tree_root(0).unwrap().0, n.ids[1].short().0);
}

#[test]
fn without_link_sessions_parents_and_children_fetch_each_others_credentials() {
    // No handshakes, so no key from a link session: the first signed tree message from each
    // neighbour is dropped (unknown key) and its credential asked for (§5.5); the router's
    // retry then verifies.
    let config = hyphae_core::Config {
        beacon_interval: core::time::Duration::from_millis(500),
        link_sessions: false,
        ..hyphae_core::Config::default()
    };
    let mut n = SecureNet::new(4, config, |i| {
        hyphae_crypto::roles::ROUTER
            | if i == 3 {
                hyphae_crypto::roles::ROOT
            } else {
                0
            }
    });
    for i in 0..4 {
        for j in 0..4 {
            n.adj[i][j] = i.abs_diff(j) == 1;
        }
    }
    n.run(40_000);
    let unknown: u64 = (0..4).map(|i| n.drops(i, DropReason::UnknownKey)).sum();
    assert!(unknown > 0);
    for i in 0..3 {
        assert!(n.nodes[i].tree_attached(), "node {i}");
        assert_eq!(n.nodes[i].assignment(0).unwrap().signer, n.ids[i + 1]);
        assert_eq!(security_drops(&n, i), [0, 0, 0], "node {i}");
    }
}

#[test]
fn a_signed_announcement_too_large_for_one_frame_is_fetched_and_verified() {
    let mut n = settled();
    let app = n.apps[0];
    let now = n.now;
    // Two 32-byte names: 82 B of body + 167 B of signature and credential do not fit inline
    // (218 B in a sealed 250 B frame), so the gossip layer announces and neighbours fetch.
    let a = "a-service-name-of-thirty-two-b-1";
    let b = "a-service-name-of-thirty-two-b-2";
    n.nodes[0].announce_service(now, a, app).unwrap();
    let now = n.now;
    n.nodes[0].announce_service(now, b, app).unwrap();
    n.run(6_000);
    for i in 1..5 {
        assert_eq!(
            n.nodes[i].find_service(a).unwrap().node,
            n.ids[0],
            "node {i}"
        );
        assert_eq!(
            n.nodes[i].find_service(b).unwrap().node,
            n.ids[0],
            "node {i}"
        );
        assert_eq!(security_drops(&n, i), [0, 0, 0], "node {i}");
    }
}

#[test]
fn a_leaf_holds_its_signed_lease_grant() {
    // 0 – 1 – 2 – 3, rooted at node 2; node 3 is a leaf that takes a leased address from it.
    let mut n = SecureNet::line(4, 2);
    let leaf = hyphae_core::Config {
        beacon_interval: core::time::Duration::from_millis(500),
        capabilities: hyphae_wire::beacon::Capabilities::LEAF,
        ..hyphae_core::Config::default()
    };
    n.rebuild(3, leaf, hyphae_crypto::roles::ROUTER);
    n.run(40_000);
    let leased = n.nodes[3].position();
    for (t, c) in leased.iter().enumerate() {
        let c = c.unwrap();
        assert_eq!(c.parent(), n.nodes[2].position()[t], "tree {t}");
        let a = n.nodes[3].assignment(t).unwrap();
        assert_eq!((a.signer, a.body.op), (n.ids[2], Op::LeaseGrant));
    }
    for i in 0..4 {
        assert_eq!(security_drops(&n, i), [0, 0, 0], "node {i}");
    }
    let now = n.now;
    assert!(n.nodes[0].learn_position(now, n.ids[3], &leased));
    n.send(0, 3, b"to the leaf");
    n.run(3_000);
    assert!(n.delivered(3, b"to the leaf"));
}

#[test]
fn a_kept_assignment_follows_the_coordinates() {
    // 0 – 1 – 2 with nodes 0 and 2 root-eligible; the root's side is cut off, the other
    // eligible node becomes root and node 1 is assigned again, by it.
    let config = hyphae_core::Config {
        beacon_interval: core::time::Duration::from_millis(500),
        ..hyphae_core::Config::default()
    };
    let mut n = SecureNet::new(3, config, |i| {
        hyphae_crypto::roles::ROUTER
            | if i == 1 {
                0
            } else {
                hyphae_crypto::roles::ROOT
            }
    });
    n.adj = vec![
        vec![false, true, false],
        vec![true, false, true],
        vec![false, true, false],
    ];
    n.run(30_000);
    let root = (0..3)
        .find(|&i| n.nodes[i].tree_root(0).unwrap().0 == n.ids[i].short().0)
        .unwrap();
    let other = 2 - root;
    assert_eq!(n.nodes[other].assignment(0).unwrap().signer, n.ids[1]);
    assert_eq!(n.nodes[1].assignment(0).unwrap().signer, n.ids[root]);
    // Cut the root off.
    n.adj[1][root] = false;
    n.adj[root][1] = false;
    n.run(60_000);
    assert_eq!(
        n.nodes[1].tree_root(0).unwrap().0,
        n.ids[other].short().0,
        "the other eligible node roots the tree"
    );
    // The new root's old assignment no longer matches its coordinates: not shown.
    assert!(n.nodes[other].assignment(0).is_none());
    let a = n.nodes[1].assignment(0).unwrap();
    assert_eq!(a.signer, n.ids[other]);
    assert_eq!(
        Some(a.body.address),
        n.nodes[1].position()[0].map(Address::Coords)
    );
}
