//! The signed control plane (`security.md` §9): tree messages and service announcements.
//!
//! In a secured network every Tree message other than a claim (join request, assign, leave,
//! lease request, lease grant: ops 2–6) is sent as body ‖ signature, signed by the node that
//! sends it over `digest("tree", [network id, sender node id, body])`. The receiver checks,
//! cheapest first:
//!
//! 1. the sender is entitled to the message: a join or lease request names its sender as the
//!    subject, a leave names its sender (a child leaving) or the receiver (a parent dismissing
//!    or refusing it), an assign or lease grant names the receiver ([`DropReason::Unauthorized`]);
//! 2. it holds the sender's public key — learnt from the link handshake with it or from its
//!    credential — else it drops the message ([`DropReason::UnknownKey`]) and asks the sender
//!    for its credential (§5.5, at most once per second per neighbour), so the router's retry
//!    verifies;
//! 3. the signature ([`DropReason::Unauthenticated`]);
//! 4. an assign or lease grant extends the sender's own coordinates in that tree, as its
//!    beacons advertise them, by exactly one level ([`DropReason::Unauthorized`]).
//!
//! A node keeps, per tree, the signed assignment its coordinates come from (the parent, the
//! signed body's op and epoch, a 32-bit tag of the coordinates and the signature: 80 B per
//! tree) and shows it with [`crate::Node::assignment`] while its coordinates are the assigned
//! ones.
//!
//! Service announcements carry the provider's signature over
//! `digest("service", [network id, provider id, body])` and its 103-byte credential, so every
//! node verifies them on the spot, before caching or relaying, without a credential fetch.

use hyphae_crypto::PublicIdentity;
use hyphae_crypto::control::{
    SERVICE_OVERHEAD, Signed, sign_control, sign_service, verify_control, verify_service,
};
use hyphae_crypto::handshake::{CREDENTIAL_REQUEST_LEN, Message};
use hyphae_wire::TreeRepr;
use hyphae_wire::tree::{Op, SIGNATURE_TRAILER};

use super::*;

/// Neighbours whose credential was asked for (rate limit, one per neighbour every
/// [`super::asks::ASK_GAP`]).
const ASKS: usize = 2;
/// Largest unsigned Tree body (header and the deepest coordinates).
const TREE_BODY_MAX: usize = hyphae_wire::tree::HEADER_LEN + 2 + hyphae_wire::address::COORD_BYTES;
/// Largest signed service announcement a node makes ([`OWN_SERVICES`] entries of 32 bytes).
pub(super) const SERVICE_MAX: usize =
    hyphae_wire::service::HEADER_LEN + OWN_SERVICES * (3 + 32) + SERVICE_OVERHEAD;

/// The signed assignment a node's coordinates in one tree come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedAssignment {
    /// The parent (or lease proxy) that signed it: the frame's sender.
    pub signer: NodeId,
    /// The signed Tree body: op [`Op::Assign`] or [`Op::LeaseGrant`], subject this node,
    /// address the assigned coordinates.
    pub body: TreeRepr,
    /// Ed25519 signature of `signer` over `digest("tree", [network id, signer, body])`.
    pub signature: [u8; SIGNATURE_TRAILER],
}

/// A kept assignment: signer, op, epoch, a tag of the assigned coordinates ([`coords_tag`]:
/// the coordinates themselves are the node's own while they last), signature.
type Held = (NodeId, Op, u16, u32, [u8; SIGNATURE_TRAILER]);

/// FNV-1a over the depth and encoded levels of `c`: tells whether the node's coordinates are
/// still the assigned ones without keeping them (4 B instead of 66 B per tree).
fn coords_tag(c: &Coords) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in (c.depth() as u32).to_le_bytes().iter().chain(c.body()) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// What a node keeps of signed assignments, and the credential requests it made.
#[derive(Debug, Default)]
pub(crate) struct SignedState {
    /// Per tree: the assignment the node's coordinates come from.
    held: [Option<Held>; MAX_TREES],
    /// Neighbours whose credential was asked for, and when.
    asked: asks::Asks<NodeId, ASKS>,
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    crate::node::Node<P, T, IN, OUT, M>
{
    /// The signed assignment this node's coordinates in tree `t` come from (a secured
    /// network, once placed by an assign or a lease grant): the proof it can show that its
    /// parent gave it these coordinates. `None` for a root, in an unsecured network, or when
    /// the coordinates changed since (a parent's renumbering is followed from its beacons).
    pub fn assignment(&self, t: usize) -> Option<SignedAssignment> {
        let tree = self.tree()?;
        let (signer, op, epoch, tag, signature) = (*tree.signed.held.get(t)?)?;
        let coords = tree
            .position()
            .get(t)
            .copied()
            .flatten()
            .filter(|c| coords_tag(c) == tag)?;
        Some(SignedAssignment {
            signer,
            body: TreeRepr {
                op,
                tree: t as u8,
                epoch,
                subject: self.id,
                address: Address::Coords(coords),
            },
            signature,
        })
    }

    /// Emit the one-hop frame of tree message `msg` (not a claim) into `buf`: signed by this
    /// node in a secured network, plain otherwise.
    pub(super) fn tree_frame(&mut self, msg: &TreeRepr, buf: &mut [u8]) -> Option<usize> {
        let Some(s) = self.security.as_ref() else {
            return FrameRepr::new(Body::Tree(*msg)).emit(buf).ok();
        };
        let mut body = [0u8; TREE_BODY_MAX];
        let n = Body::Tree(*msg).emit(&mut body).ok()?;
        let inner = &s.inner;
        let sig = sign_control(
            Signed::Tree,
            inner.identity(),
            inner.network_id(),
            &body[..n],
        );
        FrameRepr::new(Body::SignedTree(*msg, &sig)).emit(buf).ok()
    }

    /// An unsigned Tree message other than a claim (request): refused in a secured network.
    /// Returns whether the message may go on to the router.
    pub(in crate::node) fn tree_unsigned(&mut self, msg: &TreeRepr) -> bool {
        if self.security.is_none() || msg.op == Op::Claim {
            return true;
        }
        self.counters.drop(DropReason::Unauthenticated);
        false
    }

    /// A signed Tree message (ops 2–6) from neighbour `from`; `raw` is its body with the
    /// signature. Verified as the module doc says, then handed to the router.
    pub(in crate::node) fn tree_signed(
        &mut self,
        now: Instant,
        from: NodeId,
        msg: &TreeRepr,
        raw: &[u8],
    ) {
        let me = self.id;
        let entitled = match msg.op {
            Op::JoinRequest | Op::LeaseRequest => msg.subject == from,
            Op::Leave => msg.subject == from || msg.subject == me,
            Op::Assign | Op::LeaseGrant => msg.subject == me,
            Op::Claim => false,
        };
        let Some(s) = self.security.as_mut() else {
            // An unsecured node has no key to check with: the message counts as unsigned.
            if !self.routing_body(now, from, &Body::Tree(*msg)) {
                self.counters.drop(DropReason::Unsupported);
            }
            return;
        };
        if !entitled {
            self.counters.drop(DropReason::Unauthorized);
            return;
        }
        let n = msg.buffer_len();
        let (Some(body), Some(sig)) = (
            raw.get(..n),
            raw.get(n..)
                .and_then(|t| <&[u8; SIGNATURE_TRAILER]>::try_from(t).ok()),
        ) else {
            self.counters.drop(DropReason::Malformed);
            return;
        };
        let Some(key) = s.sessions.key_of(&from) else {
            self.counters.drop(DropReason::UnknownKey);
            self.ask_credential(now, from);
            return;
        };
        let ok = PublicIdentity::from_bytes(&key).is_ok_and(|pk| {
            verify_control(Signed::Tree, &pk, s.inner.network_id(), body, sig).is_ok()
        });
        if !ok {
            self.counters.drop(DropReason::Unauthenticated);
            return;
        }
        s.sessions.key_used(&from, now);
        let assigns = matches!(msg.op, Op::Assign | Op::LeaseGrant);
        if assigns && !self.extends_sender(&from, msg) {
            self.counters.drop(DropReason::Unauthorized);
            return;
        }
        if !self.routing_body(now, from, &Body::Tree(*msg)) {
            self.counters.drop(DropReason::Unsupported);
            return;
        }
        if assigns {
            self.keep_assignment(from, msg, sig);
        }
    }

    /// Whether the coordinates `msg` assigns extend `from`'s own in that tree (from its
    /// beacons) by exactly one level.
    fn extends_sender(&self, from: &NodeId, msg: &TreeRepr) -> bool {
        let Address::Coords(c) = msg.address else {
            return false;
        };
        let Some(t) = self.tree() else { return false };
        t.nb_of(from)
            .and_then(|nb| t.router.neighbour_tree(nb, usize::from(msg.tree)))
            .is_some_and(|(_, _, own)| c.parent() == Some(own))
    }

    /// Keep a verified assignment when the node took it (its coordinates are the assigned
    /// ones, from this parent or lease proxy).
    fn keep_assignment(&mut self, from: NodeId, msg: &TreeRepr, sig: &[u8; SIGNATURE_TRAILER]) {
        let Address::Coords(c) = msg.address else {
            return;
        };
        let tree = usize::from(msg.tree);
        let Some(t) = self.tree_mut() else { return };
        let parent = t.router.parent(tree).and_then(|p| t.nb_node(p));
        let taken = match msg.op {
            Op::LeaseGrant => t.lease.is_some(),
            _ => parent == Some(from),
        } && t.position().get(tree).copied().flatten() == Some(c);
        if let (true, Some(slot)) = (taken, t.signed.held.get_mut(tree)) {
            *slot = Some((from, msg.op, msg.epoch, coords_tag(&c), *sig));
        }
    }

    /// Ask neighbour `to` for its credential (Handshake op 6, `security.md` §5.5), at most once
    /// per [`super::asks::ASK_GAP`]; its answer (op 7) puts its key in the key cache.
    fn ask_credential(&mut self, now: Instant, to: NodeId) {
        let Some(t) = self.tree_mut() else { return };
        if t.signed.asked.recently(to, now) {
            return;
        }
        t.signed.asked.note(to, now);
        let mut body = [0u8; CREDENTIAL_REQUEST_LEN];
        let ask = Message::CredentialRequest {
            sender: hyphae_crypto::NodeId(self.id.0),
            target: hyphae_crypto::NodeId(to.0),
        };
        if let Ok(n) = ask.emit(&mut body) {
            self.queue_to(to, Body::Handshake(&body[..n]));
        }
    }

    /// The gossip payload announcing Service body `body` (this node's own): in a secured
    /// network signed, with the credential attached. `None` if it cannot be signed.
    pub(super) fn service_payload(&mut self, body: &[u8], out: &mut [u8]) -> Option<usize> {
        let Some(s) = self.security.as_ref() else {
            let o = out.get_mut(..body.len())?;
            o.copy_from_slice(body);
            return Some(body.len());
        };
        let inner = &s.inner;
        let signed = sign_service(
            inner.identity(),
            inner.credential(),
            inner.network_id(),
            body,
            out,
        );
        if signed.is_err() {
            self.counters.seal_failures += 1;
        }
        signed.ok()
    }

    /// Check a service announcement payload before it is cached or relayed: in a secured
    /// network it must be signed by its provider, whose credential it carries. Returns the
    /// Service body, or `None` (dropped and counted).
    pub(super) fn service_body<'p>(&mut self, payload: &'p [u8]) -> Option<&'p [u8]> {
        let Some(s) = self.security.as_ref() else {
            return Some(payload);
        };
        let inner = &s.inner;
        match verify_service(inner.admins(), inner.network_id(), None, payload) {
            Ok((body, _)) => Some(body),
            Err(hyphae_crypto::Error::IdMismatch) => {
                self.counters.drop(DropReason::Unauthorized);
                None
            }
            Err(_) => {
                self.counters.drop(DropReason::Unauthenticated);
                None
            }
        }
    }

    /// A gossip message on the service topic from a neighbour: whether it may be cached and
    /// relayed. Inline announcements are verified here (duplicates, which the gossip layer
    /// ignores anyway, are not verified again); announced payloads when they are fetched.
    pub(super) fn service_gossip_ok(
        &mut self,
        now: Instant,
        g: &hyphae_wire::GossipRepr<'_>,
    ) -> bool {
        let hyphae_wire::gossip::Body::Data(p) = g.body else {
            return true;
        };
        let key = hyphae_routing::gossip::Key {
            origin: g.origin,
            id: g.id,
        };
        if self.security.is_none() || self.tree().is_some_and(|t| t.gossip.is_seen(ri(now), key)) {
            return true;
        }
        self.service_body(p).is_some()
    }
}
