//! Link sessions and end-to-end envelopes, adversarially (`docs/spec/security.md` §5, §6.4,
//! §15): neighbours handshake and seal unicast frames with per-link keys, so an admitted insider
//! can no longer speak for another node on a link; forged handshakes are refused and counted; a
//! restarted or re-flashed peer gets a new session and traffic continues; a relay can neither
//! read nor alter an end-to-end payload; random handshake bodies never panic a node.

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use core::time::Duration;

use common::secure::{NETWORK_KEY, addr, open_as, seal_as};
use hyphae_core::security::Provisioner;
use hyphae_core::{
    AppId, Config, DropReason, Event, FailReason, Instant, LinkAddr, LinkId, LinkInfo, LinkKind,
    NodeId, Routing, RxMeta, SimNode,
};
use hyphae_crypto::{KeyClass, KeyId};
use hyphae_wire::SingleRepr;
use hyphae_wire::frame::{Body, Frame, FrameRepr};
use proptest::prelude::*;

/// What the test harness does with a frame on its way from one node to another.
type Tap = Box<dyn FnMut(usize, usize, &[u8]) -> Option<Vec<u8>>>;

struct Net {
    prov: Provisioner,
    config: Config,
    nodes: Vec<Box<SimNode>>,
    ids: Vec<NodeId>,
    links: Vec<LinkId>,
    apps: Vec<AppId>,
    now: Instant,
    /// Who hears whom.
    adj: Vec<Vec<bool>>,
    /// Every frame put on the air: (from, to, bytes).
    air: Vec<(usize, LinkAddr, Vec<u8>)>,
    /// Deliveries: (at, from, payload).
    got: Vec<(usize, NodeId, Vec<u8>)>,
    failed: Vec<(usize, FailReason)>,
    reserved: Vec<u64>,
    tap: Option<Tap>,
}

impl Net {
    fn new(n: usize, config: Config) -> Self {
        let mut s = Self {
            prov: Provisioner::new(&[7; 32], b"hyphae test", NETWORK_KEY),
            config,
            nodes: Vec::new(),
            ids: Vec::new(),
            links: Vec::new(),
            apps: Vec::new(),
            now: Instant::ZERO,
            adj: vec![vec![true; n]; n],
            air: Vec::new(),
            got: Vec::new(),
            failed: Vec::new(),
            reserved: vec![0; n],
            tap: None,
        };
        for i in 0..n {
            let (id, node) = s.build(&s.prov, [i as u8 + 1; 32], None, i);
            s.ids.push(id);
            s.links.push(LinkId(0));
            s.apps.push(AppId::from_name("links-test").unwrap());
            s.nodes.push(node);
        }
        s
    }

    /// A line 0 – 1 – … – n−1 with static routes along it.
    fn line(n: usize, config: Config) -> Self {
        let mut s = Self::new(
            n,
            Config {
                routing: Routing::Static,
                ..config
            },
        );
        for i in 0..n {
            for j in 0..n {
                s.adj[i][j] = i.abs_diff(j) == 1;
            }
        }
        for i in 0..n {
            for j in 0..n {
                if i.abs_diff(j) > 1 {
                    let via = if j > i { s.ids[i + 1] } else { s.ids[i - 1] };
                    let dest = s.ids[j];
                    assert!(s.nodes[i].set_route(dest, via));
                }
            }
        }
        s
    }

    fn build(
        &self,
        prov: &Provisioner,
        seed: [u8; 32],
        stored: Option<u64>,
        i: usize,
    ) -> (NodeId, Box<SimNode>) {
        let (id, sec) = prov.node_resumed(&seed, stored).unwrap();
        let mut node = Box::new(SimNode::new(self.config, id, i as u64 + 100));
        node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
            .unwrap();
        node.register_app("links-test").unwrap();
        node.set_security(sec).unwrap();
        (id, node)
    }

    /// Replace node `i` by a fresh process: the same identity resuming its counter (`seed` =
    /// its own), or a re-flashed one with a new identity.
    fn restart(&mut self, i: usize, seed: [u8; 32]) {
        let same = self.prov.node(&seed).unwrap().0 == self.ids[i];
        let stored = same.then_some(self.reserved[i]);
        let (id, node) = self.build(&self.prov, seed, stored, i);
        self.ids[i] = id;
        self.nodes[i] = node;
    }

    fn inject(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let now = self.now;
        let l = self.links[to];
        self.nodes[to].handle_datagram(now, l, addr(from), RxMeta::default(), bytes);
    }

    fn run(&mut self, ms: u64) {
        let mut buf = [0u8; 250];
        for _ in 0..ms {
            self.now = self.now + Duration::from_millis(1);
            for i in 0..self.nodes.len() {
                let now = self.now;
                while let Some(t) = self.nodes[i].poll_transmit(now, &mut buf) {
                    let bytes = buf[..t.len].to_vec();
                    self.air.push((i, t.to, bytes.clone()));
                    for j in 0..self.nodes.len() {
                        if j == i || !self.adj[i][j] || !(t.to.is_broadcast() || t.to == addr(j)) {
                            continue;
                        }
                        let delivered = match self.tap.as_mut() {
                            Some(tap) => tap(i, j, &bytes),
                            None => Some(bytes.clone()),
                        };
                        if let Some(b) = delivered {
                            self.inject(i, j, &b);
                        }
                    }
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    match e {
                        Event::CounterReserve(r) => {
                            self.reserved[i] = r;
                            self.nodes[i].counter_persisted(r);
                        }
                        Event::Delivered(d) => {
                            let mut out = vec![0u8; d.len];
                            self.nodes[i].take_delivery(d.id, &mut out).unwrap();
                            self.got.push((i, d.from, out));
                        }
                        Event::SendFailed { reason, .. } => self.failed.push((i, reason)),
                        _ => {}
                    }
                }
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, data: &[u8]) {
        let (now, app, dest) = (self.now, self.apps[from], self.ids[to]);
        self.nodes[from].send(now, app, dest, data).unwrap();
    }

    fn drops(&self, i: usize, r: DropReason) -> u64 {
        self.nodes[i].counters().drop_count(r)
    }

    fn delivered(&self, at: usize, data: &[u8]) -> bool {
        self.got.iter().any(|(i, _, p)| *i == at && p == data)
    }
}

/// Every layer on: link sessions (the default) and end-to-end envelopes (opt-in).
fn beacons_fast() -> Config {
    Config {
        beacon_interval: Duration::from_millis(500),
        e2e: true,
        ..Config::default()
    }
}

fn key_class(frame: &[u8]) -> KeyClass {
    KeyId(frame[2]).class()
}

#[test]
fn neighbours_handshake_and_unicast_uses_link_keys() {
    let mut n = Net::new(2, beacons_fast());
    n.run(3000);
    assert!(n.nodes[0].has_link_session(&n.ids[1]));
    assert!(n.nodes[1].has_link_session(&n.ids[0]));
    assert_eq!(n.nodes[0].counters().link_handshakes, 1);
    assert_eq!(n.nodes[1].counters().link_handshakes, 1);
    let mark = n.air.len();
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 13) as u8).collect();
    n.send(0, 1, &data);
    n.run(1000);
    assert!(n.delivered(1, &data));
    // Data, acks and the end-to-end exchange go under link keys; beacons under the network key.
    let after = &n.air[mark..];
    let unicast: Vec<_> = after
        .iter()
        .filter(|(_, to, _)| !to.is_broadcast())
        .collect();
    assert!(unicast.len() > 5);
    for (_, _, f) in &unicast {
        // One-hop handshake frames (here: the end-to-end exchange with a neighbour) are
        // signed and go under the network key; everything else under the link key.
        let one_hop_handshake = f[0] & 0x1f == 12 && Frame::parse(f).unwrap().routing.is_none();
        let want = if one_hop_handshake {
            KeyClass::Network
        } else {
            KeyClass::Link
        };
        assert_eq!(key_class(f), want, "{f:02x?}");
    }
    assert!(
        after
            .iter()
            .filter(|(_, to, _)| to.is_broadcast())
            .all(|(_, _, f)| key_class(f) == KeyClass::Network)
    );
    assert!(n.nodes[0].has_e2e_session(&n.ids[1]));
    for i in 0..2 {
        for r in [
            DropReason::Unauthenticated,
            DropReason::BadHandshake,
            DropReason::EndToEnd,
            DropReason::UnknownKey,
        ] {
            assert_eq!(n.drops(i, r), 0, "node {i} {r:?}");
        }
    }
}

/// Node 2 (admitted, holds the network key) forges a one-hop Single from node 1 to node 0.
fn impersonation(config: Config) -> (Net, u64) {
    let mut n = Net::new(3, config);
    n.run(4000);
    let forged = FrameRepr::new(Body::Single(SingleRepr {
        transfer: 0x1234,
        app: n.apps[0],
        payload: b"from node 1, honest",
    }));
    let mut buf = [0u8; 250];
    let len = forged.emit(&mut buf).unwrap();
    let sealed = seal_as(n.ids[1], 1 << 30, &buf[..len]);
    let before = n.drops(0, DropReason::LinkKeyRequired);
    // Sent from node 1's link address.
    n.inject(1, 0, &sealed);
    n.run(10);
    let rejected = n.drops(0, DropReason::LinkKeyRequired) - before;
    (n, rejected)
}

#[test]
fn an_insider_cannot_impersonate_a_neighbour_once_sessions_are_up() {
    let (n, rejected) = impersonation(beacons_fast());
    assert!(n.nodes[0].has_link_session(&n.ids[1]));
    assert_eq!(rejected, 1);
    assert!(!n.delivered(0, b"from node 1, honest"));
    // Without link sessions (and without end-to-end envelopes) the same forgery works: the
    // network key alone cannot tell admitted nodes apart.
    let (n, rejected) = impersonation(Config {
        link_sessions: false,
        e2e: false,
        ..beacons_fast()
    });
    assert_eq!(rejected, 0);
    assert!(
        n.got
            .iter()
            .any(|(i, from, p)| *i == 0 && *from == n.ids[1] && p == b"from node 1, honest")
    );
}

#[test]
fn forged_handshakes_are_rejected_and_counted() {
    let mut n = Net::new(2, beacons_fast());
    // Node 2 holds the network key but a credential from a rogue admin; node 3 a genuine
    // admin's credential for another network. Both are heard (network key) but never get a
    // link session.
    let rogue = Provisioner::new(&[8; 32], b"hyphae test", NETWORK_KEY);
    let foreign = Provisioner::new(&[7; 32], b"another network", NETWORK_KEY);
    for (p, seed) in [(&rogue, [0x33; 32]), (&foreign, [0x44; 32])] {
        let (id, node) = n.build(p, seed, None, n.nodes.len());
        n.ids.push(id);
        n.nodes.push(node);
        n.links.push(LinkId(0));
        n.apps.push(n.apps[0]);
        n.reserved.push(0);
    }
    n.adj = vec![vec![true; 4]; 4];
    // Long enough for each side's handshake back-off (1, 2, 4 … intervals) to retry.
    n.run(10_000);
    assert!(n.nodes[0].has_link_session(&n.ids[1]));
    for bad in [2, 3] {
        assert!(n.nodes[0].peers().get(&n.ids[bad]).is_some(), "heard");
        assert!(!n.nodes[0].has_link_session(&n.ids[bad]));
        assert!(!n.nodes[1].has_link_session(&n.ids[bad]));
    }
    assert!(n.drops(0, DropReason::BadHandshake) >= 2);
    assert!(
        n.drops(1, DropReason::BadHandshake) >= 2,
        "{}",
        n.drops(1, DropReason::BadHandshake)
    );
    // A replayed Init (recorded on the air) is refused before any cryptography.
    let init = n
        .air
        .iter()
        .find(|(i, to, f)| *i == 1 && *to == addr(0) && f[0] & 0x1f == 12)
        .unwrap()
        .2
        .clone();
    let before = n.drops(0, DropReason::Replayed);
    n.inject(1, 0, &init);
    assert_eq!(n.drops(0, DropReason::Replayed), before + 1);
    // An Init re-sealed by an insider with a fresh counter: the responder answers, but the
    // insider cannot sign the Confirm, so no session changes hands.
    let plain = open_as(n.ids[1], &init).unwrap();
    let fresh = n
        .air
        .iter()
        .filter(|(i, _, _)| *i == 1)
        .map(|(_, _, f)| u32::from_le_bytes(f[3..7].try_into().unwrap()))
        .max()
        .unwrap()
        + 1;
    let resealed = seal_as(n.ids[1], fresh, &plain);
    let sessions = n.nodes[0].counters().link_handshakes;
    n.inject(1, 0, &resealed);
    n.run(3000);
    // Honest pair still talks.
    n.send(0, 1, b"still fine");
    n.run(1000);
    assert!(
        n.delivered(1, b"still fine"),
        "{:?} {:?} {:?}",
        n.failed,
        n.nodes[0].counters(),
        n.nodes[1].counters()
    );
    assert!(n.nodes[0].counters().link_handshakes <= sessions + 1);
    // A handshake body naming a node id other than its link neighbour's.
    let mut body = plain.clone();
    let off = Frame::parse(&plain).unwrap().body_offset;
    body[off..off + 8].copy_from_slice(&n.ids[2].0);
    let before = n.drops(0, DropReason::BadHandshake);
    n.inject(1, 0, &seal_as(n.ids[2], 1 << 30, &body));
    assert_eq!(n.drops(0, DropReason::BadHandshake), before + 1);
}

/// Send `data` from 0 to 1 until it is delivered (an end-to-end session lost by a restart
/// fails one send with `Rejected`), within `tries`.
fn deliver_eventually(n: &mut Net, data: &[u8], tries: usize) -> usize {
    for k in 0..tries {
        n.send(0, 1, data);
        n.run(2500);
        if n.delivered(1, data) {
            return k + 1;
        }
    }
    panic!("never delivered: {:?}", n.failed);
}

#[test]
fn a_restarted_peer_re_establishes_its_sessions_and_traffic_continues() {
    let mut n = Net::new(2, beacons_fast());
    n.run(3000);
    deliver_eventually(&mut n, b"before restart", 1);
    let handshakes = n.nodes[0].counters().link_handshakes;
    // Node 1 restarts: same identity, counter resumed, every session lost.
    n.restart(1, [2; 32]);
    assert!(!n.nodes[1].has_link_session(&n.ids[0]));
    n.run(6000);
    assert!(n.nodes[0].counters().link_handshakes > handshakes);
    assert!(n.nodes[1].has_link_session(&n.ids[0]));
    assert!(n.nodes[0].has_link_session(&n.ids[1]));
    let tries = deliver_eventually(&mut n, b"after restart", 3);
    // The send that met the lost end-to-end session went again under a new one.
    assert_eq!(tries, 1);
    // And the other way.
    let (now, app, dest) = (n.now, n.apps[1], n.ids[0]);
    n.nodes[1].send(now, app, dest, b"back").unwrap();
    n.run(2000);
    assert!(n.delivered(0, b"back"));
}

#[test]
fn a_reflashed_peer_with_a_new_identity_gets_a_new_session() {
    let mut n = Net::new(2, beacons_fast());
    n.run(3000);
    let old = n.ids[1];
    n.restart(1, [0x77; 32]);
    assert_ne!(n.ids[1], old);
    assert!(n.nodes[0].has_link_session(&old));
    // Its first beacon replaces the old neighbour entry, and the old session with it.
    n.run(700);
    assert!(n.nodes[0].peers().get(&old).is_none());
    assert!(!n.nodes[0].has_link_session(&old));
    n.run(4000);
    assert!(n.nodes[0].has_link_session(&n.ids[1]));
    assert!(!n.nodes[0].has_link_session(&old));
    deliver_eventually(&mut n, b"hello new identity", 2);
}

/// 0 – 1 – 2, node 1 an admitted relay that knows the network key; link sessions off so that
/// it can open and reseal what it relays (the insider's full power over a hop).
fn relay_net(e2e: bool) -> Net {
    Net::line(
        3,
        Config {
            link_sessions: false,
            e2e,
            ..beacons_fast()
        },
    )
}

#[test]
fn a_relay_cannot_read_an_end_to_end_payload() {
    let probe = b"the secret recipe: 3 eggs, 200 g flour, a pinch of salt".to_vec();
    for e2e in [true, false] {
        let mut n = relay_net(e2e);
        n.run(3000);
        let relay = n.ids[1];
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let log = seen.clone();
        n.tap = Some(Box::new(move |from, to, bytes| {
            if from == 1 && to == 2 {
                log.borrow_mut().push(open_as(relay, bytes).unwrap());
            }
            Some(bytes.to_vec())
        }));
        n.send(0, 2, &probe);
        n.run(3000);
        assert!(n.delivered(2, &probe), "e2e {e2e}: {:?}", n.failed);
        let visible = seen
            .borrow()
            .iter()
            .any(|p| p.windows(probe.len()).any(|w| w == &probe[..]));
        // The relay opens every hop it forwards; only the envelope hides the payload.
        assert_eq!(visible, !e2e, "e2e {e2e}");
    }
}

#[test]
fn a_relay_cannot_alter_an_end_to_end_payload() {
    for e2e in [true, false] {
        let mut n = relay_net(e2e);
        n.run(3000);
        let relay = n.ids[1];
        n.tap = Some(Box::new(move |from, to, bytes| {
            if from != 1 || to != 2 {
                return Some(bytes.to_vec());
            }
            let plain = open_as(relay, bytes).unwrap();
            if plain[0] & 0x1f == 1 {
                // A Single data frame: change its last payload byte and reseal as the relay.
                let mut p = plain;
                let last = p.len() - 1;
                p[last] ^= 0x01;
                // Under the frame's own counter: the original never arrives.
                let counter = u32::from_le_bytes(bytes[3..7].try_into().unwrap());
                return Some(seal_as(relay, counter, &p));
            }
            Some(bytes.to_vec())
        }));
        n.send(0, 2, b"pay 10 coins");
        n.run(8000);
        if e2e {
            assert!(n.got.iter().all(|(i, _, _)| *i != 2), "{:?}", n.got);
            assert!(n.drops(2, DropReason::EndToEnd) >= 1);
            assert!(
                n.failed.contains(&(0, FailReason::Rejected)),
                "{:?}",
                n.failed
            );
            // Sent four times (three retries, each under a new session), rejected every time.
            assert_eq!(n.drops(2, DropReason::EndToEnd), 4);
            assert_eq!(n.nodes[0].counters().e2e_sessions, 4);
            assert_eq!(n.failed.len(), 1);
        } else {
            // Without the envelope the altered payload is delivered as genuine.
            assert!(n.delivered(2, b"pay 10 coinr"), "{:?}", n.got);
        }
    }
}

#[test]
fn honest_multi_hop_traffic_with_every_layer_on() {
    let mut n = Net::line(4, beacons_fast());
    n.run(4000);
    for i in 0..3 {
        assert!(n.nodes[i].has_link_session(&n.ids[i + 1]), "{i}");
    }
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 31 + 7) as u8).collect();
    n.send(0, 3, &big);
    n.send(0, 3, b"and a small one");
    n.run(5000);
    assert!(n.delivered(3, &big), "{:?}", n.failed);
    assert!(n.delivered(3, b"and a small one"));
    assert!(n.nodes[0].has_e2e_session(&n.ids[3]));
    // Relays never hold the end-to-end session.
    assert!(!n.nodes[1].has_e2e_session(&n.ids[0]));
    for i in 0..4 {
        assert_eq!(n.drops(i, DropReason::EndToEnd), 0);
        assert_eq!(n.drops(i, DropReason::BadHandshake), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary handshake bodies, authenticated under the network key as if from the
    /// neighbour (one hop, its node id first), or routed from a stranger, never panic a node
    /// with sessions, and never deliver anything.
    #[test]
    fn random_handshake_bodies_never_panic(
        bodies in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..240), 1u8..8, any::<bool>()), 1..12),
    ) {
        let mut n = Net::new(2, beacons_fast());
        n.run(2500);
        let delivered = n.got.len();
        let mut counter = 1u32 << 30;
        for (mut body, op, named) in bodies {
            if body.len() >= 10 {
                if named {
                    body[..8].copy_from_slice(&n.ids[1].0);
                }
                body[8] = op;
                body[9] &= 0x3F;
            }
            let plain = FrameRepr::new(Body::Handshake(&body));
            let mut buf = [0u8; 250];
            let Ok(len) = plain.emit(&mut buf) else { continue };
            if len + 21 > 250 {
                continue;
            }
            counter += 1;
            let sealed = seal_as(NodeId(body.get(..8).map_or([0; 8], |b| b.try_into().unwrap())), counter, &buf[..len]);
            n.inject(1, 0, &sealed);
            n.run(5);
        }
        n.run(500);
        prop_assert_eq!(n.got.len(), delivered);
    }
}

#[test]
fn more_neighbours_and_destinations_than_session_slots_still_deliver() {
    // 11 nodes in range of each other: node 0 has 10 neighbours (8 link-session slots) and
    // talks to all of them (4 end-to-end slots), and each answers.
    let mut n = Net::new(11, beacons_fast());
    n.run(4000);
    for round in 0..2u8 {
        // One at a time (a SimNode has 4 outbound transfer slots).
        for j in 1..11 {
            n.send(0, j, &[round, j as u8, 0xA5]);
            n.run(700);
        }
        for j in 1..11 {
            let (now, app, dest) = (n.now, n.apps[j], n.ids[0]);
            n.nodes[j]
                .send(now, app, dest, &[round, j as u8, 0x5A])
                .unwrap();
        }
        n.run(5000);
    }
    for round in 0..2u8 {
        for j in 1..11 {
            assert!(
                n.delivered(j, &[round, j as u8, 0xA5]),
                "0 -> {j} round {round}: {:?}",
                n.failed
            );
            assert!(
                n.delivered(0, &[round, j as u8, 0x5A]),
                "{j} -> 0 round {round}: {:?}",
                n.failed
            );
        }
    }
    assert!(n.failed.is_empty(), "{:?}", n.failed);
    assert!(n.nodes[0].link_session_count() <= hyphae_core::node::LINK_SESSIONS);
    assert_eq!(n.drops(0, DropReason::EndToEnd), 0);
}
