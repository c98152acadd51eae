//! A small network driven the way the core drives the crate: admission, beacons under the group
//! key, link handshakes, unicast frames, a network-key rotation, a re-flash, and the adversaries
//! of issue 6 — each rejected while honest traffic still flows. Frames are built and split with
//! hyphae-wire, so the two crates' layouts are checked against each other.

// Test helpers outside #[test] fns: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use hyphae_crypto::credential::{AdminKeys, CREDENTIAL_LEN, Credential, roles};
use hyphae_crypto::handshake::{Initiator, LinkSession, Responder};
use hyphae_crypto::replay::{MemoryCounterStore, boot};
use hyphae_crypto::{
    Error, Identity, KeyId, MemoryKeyStore, NetworkKey, NodeId, NodeSecurity, ReplayWindow, Suite,
    control::network_id,
};
use hyphae_wire::{AppId, Body, Frame, FrameRepr, SecurityRepr, SingleRepr};

struct Rng(u64);
impl rand_core::TryRng for Rng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
        for c in d.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Rng {}

struct Node {
    sec: NodeSecurity<2>,
    keys: MemoryKeyStore,
    ctr: MemoryCounterStore,
}

struct Net {
    admin: Identity,
    admins: AdminKeys<2>,
    id: [u8; 32],
    key: NetworkKey,
    rng: Rng,
}

impl Net {
    fn new() -> Self {
        let admin = Identity::from_seed(&[0xAD; 32]);
        let mut admins = AdminKeys::new();
        admins.set(0, *admin.public());
        Self {
            admin,
            admins,
            id: network_id(b"test-mesh"),
            key: NetworkKey::new([0x11; 32], 0),
            rng: Rng(42),
        }
    }

    /// Boot a node and have the admin admit it.
    fn admit(&mut self, keys: MemoryKeyStore, ctr: MemoryCounterStore) -> Node {
        let (mut keys, mut ctr) = (keys, ctr);
        let (identity, counter, _) = boot(&mut keys, &mut ctr, &mut self.rng, 64).unwrap();
        let mut cred = [0u8; CREDENTIAL_LEN];
        Credential::issue(
            &self.admin,
            0,
            &self.id,
            identity.public(),
            roles::ROUTER,
            u32::MAX,
        )
        .emit(&mut cred)
        .unwrap();
        let sec = NodeSecurity::new(
            identity,
            counter,
            &cred,
            self.admins,
            self.id,
            &self.key,
            Suite::default(),
            Some(0),
        )
        .unwrap();
        Node { sec, keys, ctr }
    }
}

/// A secure one-hop Single frame, emitted by hyphae-wire, ready to seal.
fn single(payload: &[u8], buf: &mut [u8]) -> (usize, usize) {
    let mut f = FrameRepr::new(Body::Single(SingleRepr {
        transfer: 7,
        app: AppId(0x1234),
        payload,
    }));
    f.security = Some(SecurityRepr::default());
    let n = f.emit(buf).unwrap();
    let off = Frame::parse(&buf[..n]).unwrap().body_offset;
    (n, off)
}

fn handshake(net: &mut Net, a: &Node, b: &Node) -> (LinkSession, LinkSession) {
    let (mut m1, mut m2, mut m3) = ([0u8; 256], [0u8; 256], [0u8; 256]);
    let (i, n1) = Initiator::start(&a.sec.handshake(Some(0)), 1, &mut net.rng, &mut m1).unwrap();
    let (r, n2) =
        Responder::respond(&b.sec.handshake(Some(0)), &m1[..n1], &mut net.rng, &mut m2).unwrap();
    let (sa, n3) = i
        .finish(&a.sec.handshake(Some(0)), &m2[..n2], &mut m3)
        .unwrap();
    let sb = r.finish(&m3[..n3]).unwrap();
    (sa, sb)
}

#[test]
fn honest_traffic_and_adversaries() {
    let mut net = Net::new();
    let mut a = net.admit(MemoryKeyStore::new(), MemoryCounterStore::new());
    let b = net.admit(MemoryKeyStore::new(), MemoryCounterStore::new());
    let (sa, sb) = handshake(&mut net, &a, &b);
    let mut win_b_from_a = ReplayWindow::new();

    // Honest unicast frame a → b.
    let mut buf = [0u8; 250];
    let (n, off) = single(b"hello", &mut buf);
    a.sec
        .seal_link(&mut a.ctr, &sa, &mut buf[..n], off)
        .unwrap();
    let sealed = buf;
    let r = b
        .sec
        .open(
            0,
            &a.sec.node_id(),
            Some(&sb),
            &mut win_b_from_a,
            &mut buf[..n],
            off,
        )
        .unwrap();
    let f = Frame::parse(&buf[..n]).unwrap();
    assert!(f.header.flags.secure());
    let Body::Single(s) = f.body().unwrap() else {
        panic!("not a single")
    };
    assert_eq!(s.payload, b"hello");
    assert_eq!(r.start, off);

    // Replayed frame.
    let mut re = sealed;
    assert_eq!(
        b.sec.open(
            0,
            &a.sec.node_id(),
            Some(&sb),
            &mut win_b_from_a,
            &mut re[..n],
            off
        ),
        Err(Error::Replay)
    );

    // Tampered payload.
    let (n, off) = single(b"pay me 1", &mut buf);
    a.sec
        .seal_link(&mut a.ctr, &sa, &mut buf[..n], off)
        .unwrap();
    buf[off + 6] ^= 0x01;
    assert_eq!(
        b.sec.open(
            0,
            &a.sec.node_id(),
            Some(&sb),
            &mut win_b_from_a,
            &mut buf[..n],
            off
        ),
        Err(Error::BadAuth)
    );

    // Wrong key id (a reserved class, an unknown network generation, another session).
    for id in [0xC0u8, KeyId::network(5).0, KeyId::link(9).0] {
        let (n, off) = single(b"x", &mut buf);
        a.sec
            .seal_link(&mut a.ctr, &sa, &mut buf[..n], off)
            .unwrap();
        buf[2] = id;
        assert_eq!(
            b.sec.open(
                0,
                &a.sec.node_id(),
                Some(&sb),
                &mut win_b_from_a,
                &mut buf[..n],
                off
            ),
            Err(Error::UnknownKey)
        );
    }

    // Spoofed sender: a frame sealed by a but presented as from a third node.
    let (n, off) = single(b"spoof", &mut buf);
    a.sec.seal_group(&mut a.ctr, &mut buf[..n], off).unwrap();
    assert_eq!(
        b.sec.open(
            0,
            &NodeId([3; 8]),
            None,
            &mut ReplayWindow::new(),
            &mut buf[..n],
            off
        ),
        Err(Error::BadAuth)
    );

    // Outsider: its own admin, its own network key, same network name.
    let mut outsider_net = Net::new();
    outsider_net.admin = Identity::from_seed(&[0xEE; 32]);
    outsider_net.admins = AdminKeys::new();
    outsider_net.admins.set(0, *outsider_net.admin.public());
    outsider_net.key = NetworkKey::new([0x99; 32], 0);
    let mut o = outsider_net.admit(MemoryKeyStore::new(), MemoryCounterStore::new());
    let (n, off) = single(b"let me in", &mut buf);
    o.sec.seal_group(&mut o.ctr, &mut buf[..n], off).unwrap();
    assert_eq!(
        b.sec.open(
            0,
            &o.sec.node_id(),
            None,
            &mut ReplayWindow::new(),
            &mut buf[..n],
            off
        ),
        Err(Error::BadAuth)
    );
    // ... and its handshake is refused (credential by an unknown admin).
    let mut m1 = [0u8; 256];
    let mut m2 = [0u8; 256];
    let (_, n1) =
        Initiator::start(&o.sec.handshake(Some(0)), 1, &mut outsider_net.rng, &mut m1).unwrap();
    assert_eq!(
        Responder::respond(&b.sec.handshake(Some(0)), &m1[..n1], &mut net.rng, &mut m2)
            .unwrap_err(),
        Error::BadAuth
    );

    // Honest traffic still flows after all of that.
    let (n, off) = single(b"still here", &mut buf);
    a.sec
        .seal_link(&mut a.ctr, &sa, &mut buf[..n], off)
        .unwrap();
    b.sec
        .open(
            0,
            &a.sec.node_id(),
            Some(&sb),
            &mut win_b_from_a,
            &mut buf[..n],
            off,
        )
        .unwrap();
}

#[test]
fn security_adds_21_bytes() {
    let body = Body::Single(SingleRepr {
        transfer: 1,
        app: AppId(0x1234),
        payload: &[0; 100],
    });
    let plain = FrameRepr::new(body);
    let mut secure = plain;
    secure.security = Some(SecurityRepr::default());
    assert_eq!(secure.buffer_len() - plain.buffer_len(), 21);
    assert_eq!(hyphae_crypto::OVERHEAD, 21);
}

#[test]
fn rotation_without_downtime() {
    let mut net = Net::new();
    let mut a = net.admit(MemoryKeyStore::new(), MemoryCounterStore::new());
    let mut b = net.admit(MemoryKeyStore::new(), MemoryCounterStore::new());
    let g1 = NetworkKey::new([0x22; 32], 1);
    let mut w = ReplayWindow::new();
    let mut buf = [0u8; 250];
    let mut send = |a: &mut Node, b: &Node, w: &mut ReplayWindow, now: u32| {
        let (n, off) = single(b"beacon-ish", &mut buf);
        a.sec.seal_group(&mut a.ctr, &mut buf[..n], off).unwrap();
        let id = buf[2];
        b.sec
            .open(now, &a.sec.node_id(), None, w, &mut buf[..n], off)
            .map(|_| id)
    };
    // Stage at t=10 on both, a activates first (t=20), b later (t=30); old accepted until 100.
    a.sec.ring_mut().stage(&g1, 100);
    b.sec.ring_mut().stage(&g1, 100);
    assert_eq!(send(&mut a, &b, &mut w, 10), Ok(0));
    a.sec.ring_mut().activate(100);
    assert_eq!(send(&mut a, &b, &mut w, 20), Ok(1)); // b accepts staged g1
    b.sec.ring_mut().activate(100);
    assert_eq!(send(&mut b, &a, &mut ReplayWindow::new(), 30), Ok(1));
    // After the window, g0 frames are refused.
    a.sec.ring_mut().expire(101);
    b.sec.ring_mut().expire(101);
    assert_eq!(send(&mut a, &b, &mut w, 150), Ok(1));
    // A node provisioned before the rotation that slept through it.
    let mut old = net.admit(MemoryKeyStore::new(), MemoryCounterStore::new());
    assert_eq!(
        send(&mut old, &b, &mut ReplayWindow::new(), 150),
        Err(Error::UnknownKey)
    );
}

#[test]
fn reflash_rekeys() {
    let mut net = Net::new();
    let a = net.admit(MemoryKeyStore::new(), MemoryCounterStore::new());
    let b = net.admit(MemoryKeyStore::new(), MemoryCounterStore::new());
    let (_, sb_old) = handshake(&mut net, &a, &b);
    let a_id = a.sec.node_id();

    // Reboot keeping both stores: same identity, counter continues above every used value.
    let Node { keys, ctr, .. } = a;
    let a = net.admit(keys, ctr);
    assert_eq!(a.sec.node_id(), a_id);

    // Re-flash that lost the counter but kept the key: a new identity, re-admitted.
    let Node { keys, .. } = a;
    let mut a2 = net.admit(keys, MemoryCounterStore::new());
    assert_ne!(a2.sec.node_id(), a_id);
    // Its frames under the new handshake open; old link keys are useless to it and to b.
    let (sa2, sb2) = handshake(&mut net, &a2, &b);
    let mut buf = [0u8; 250];
    let (n, off) = single(b"new me", &mut buf);
    a2.sec
        .seal_link(&mut a2.ctr, &sa2, &mut buf[..n], off)
        .unwrap();
    let mut copy = buf;
    b.sec
        .open(
            0,
            &a2.sec.node_id(),
            Some(&sb2),
            &mut ReplayWindow::new(),
            &mut buf[..n],
            off,
        )
        .unwrap();
    assert_eq!(
        b.sec.open(
            0,
            &a2.sec.node_id(),
            Some(&sb_old),
            &mut ReplayWindow::new(),
            &mut copy[..n],
            off
        ),
        Err(Error::UnknownKey)
    );
}
