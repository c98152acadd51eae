//! Root candidacy bound to admitted identities (`security.md` §9.1).
//!
//! In a secured network a tree root must hold a credential with the *root-eligible* role. A
//! node that becomes root broadcasts its claim signed with its identity key, with its
//! credential attached; every node verifies it, admits the root in its router's policy (a
//! beacon offering an unadmitted root is ignored) and relays the claim once when it is news
//! (a root or epoch it did not hold for that tree, ranked at least as well as its own root).
//! A node that hears beacons offering a root it has not admitted asks that neighbour for the
//! claim (an unsigned claim is a request). Forged claims are dropped as unauthenticated.

use hyphae_crypto::control::{sign_claim, verify_claim};
use hyphae_crypto::credential::roles;
use hyphae_routing::RootPolicy;
use hyphae_wire::ShortId;
use hyphae_wire::TreeRepr;
use hyphae_wire::tree::{CLAIM_TRAILER, Op};

use super::*;

/// Bytes of a signed root claim body: Tree header, the root's coordinates (one byte), trailer.
pub(crate) const CLAIM_MAX: usize = hyphae_wire::tree::HEADER_LEN + 1 + CLAIM_TRAILER;
/// Roots a node admits at once (the router's policy).
pub(crate) const ROOTS: usize = 16;
/// Claim requests remembered (rate limit, one per root every [`super::asks::ASK_GAP`]).
const ASKS: usize = 4;

/// A verified claim as received (Tree body and trailer): root, epoch, bytes.
type Held = (ShortId, u16, heapless::Vec<u8, CLAIM_MAX>);

/// The claims a node holds and the requests it made.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    /// Per tree: the last verified claim this node relayed or made.
    held: [Option<Held>; MAX_TREES],
    /// Roots whose claim was asked for, and when.
    asked: asks::Asks<ShortId, ASKS>,
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    crate::node::Node<P, T, IN, OUT, M>
{
    /// Security was installed: from now on only verified roots are admitted, and this node is a
    /// root candidate only with the *root-eligible* role.
    pub(in crate::node) fn close_root_policy(&mut self) {
        let eligible = self
            .security
            .as_ref()
            .is_some_and(|s| s.inner.credential().roles & roles::ROOT != 0);
        let me = self.id.short();
        let mtu = self.links.iter().map(|l| l.info.mtu).min().unwrap_or(M);
        let Some(t) = self.tree_mut() else { return };
        // Sealed gossip frames carry the security header and tag: inline payloads shrink.
        t.gossip.inline_max = mtu.saturating_sub(
            hyphae_wire::sizes::frame_overhead(true) + hyphae_wire::gossip::HEADER_LEN,
        );
        let policy = t.router.policy_mut();
        policy.open = false;
        if eligible {
            policy.admit(me, &[]);
        } else {
            t.router.set_root_candidate(false);
        }
    }

    /// Sign the claim `msg` this node's router made and broadcast it; `false` if it could not
    /// be signed (the claim is not sent: no unsigned claim leaves a secured node).
    pub(super) fn send_signed_claim(&mut self, msg: &TreeRepr) -> bool {
        let mut body = [0u8; CLAIM_MAX];
        let Ok(n) = Body::Tree(*msg).emit(&mut body) else {
            return false;
        };
        let mut signed = [0u8; CLAIM_MAX];
        let Some(s) = self.security.as_ref() else {
            return false;
        };
        let inner = &s.inner;
        let Ok(len) = sign_claim(
            inner.identity(),
            inner.credential(),
            inner.network_id(),
            &body[..n],
            &mut signed,
        ) else {
            self.counters.seal_failures += 1;
            return false;
        };
        self.hold_claim(msg, &signed[..len]);
        self.broadcast_claim(msg, &signed[..len])
    }

    /// A Tree claim from neighbour `from`, `raw` its body with trailer. Returns whether the
    /// router should see the message (only in an open network).
    pub(in crate::node) fn tree_claim(
        &mut self,
        now: Instant,
        from: NodeId,
        msg: &TreeRepr,
        raw: &[u8],
    ) -> bool {
        let Some(s) = self.security.as_ref() else {
            return true;
        };
        if raw.len() <= msg.buffer_len() {
            self.answer_claim_request(from, msg);
            return false;
        }
        let inner = &s.inner;
        if verify_claim(inner.admins(), inner.network_id(), None, raw).is_err() {
            self.counters.drop(DropReason::Unauthenticated);
            return false;
        }
        let root = msg.subject.short();
        let tree = usize::from(msg.tree);
        let Some(t) = self.tree_mut() else {
            return false;
        };
        let mut in_use = [ShortId([0; 4]); MAX_TREES];
        for (k, slot) in in_use.iter_mut().enumerate() {
            if let Some((r, _)) = t.router.tree_state(k) {
                *slot = r;
            }
        }
        t.router.policy_mut().admit(root, &in_use);
        t.claims.asked.forget(root);
        // News (held from now on): nothing held, a newer epoch of the held root, the claim of
        // the root this node is attached to now while it holds another one, a better-ranked
        // root, or anything once the held root was lost. The held claim only changes on news,
        // so claims cannot ping-pong.
        let policy = t.router.policy();
        let lost = t.router.lost_root(tree);
        let current = t
            .router
            .tree_state(tree)
            .filter(|_| t.router.is_attached(tree) || t.router.is_root(tree))
            .map(|(r, _)| r);
        let news = match t.claims.held.get(tree) {
            None => false,
            Some(None) => true,
            Some(Some((r, e, _))) if lost == Some(*r) => *r != root || *e != msg.epoch,
            Some(Some((r, e, _))) if *r == root => hyphae_routing::epoch_newer(msg.epoch, *e),
            Some(Some((r, _, _))) => {
                (current == Some(root) && current != Some(*r))
                    || policy.rank(msg.tree, root) < policy.rank(msg.tree, *r)
                    || !policy.admits(*r)
            }
        };
        if news {
            // Held to answer neighbours' requests: claims travel on demand, one unicast per
            // node and root, not as a flood.
            self.hold_claim(msg, raw);
        }
        let _ = (now, from);
        // The router learns the root from its beacons (a new root beacons at once); a claim,
        // possibly served long after it was made, carries a stale epoch.
        false
    }

    /// A neighbour's beacon offers roots: ask it for the claims of those not admitted yet.
    pub(super) fn ask_claims(&mut self, now: Instant, from: NodeId, b: &BeaconRepr) {
        if self.security.is_none() {
            return;
        }
        for (tree, e) in b.trees().iter().enumerate() {
            let Some(t) = self.tree_mut() else { return };
            let policy = t.router.policy();
            if policy.admits(e.root) {
                continue;
            }
            // Only a root the router would move to is worth a claim: one ranked better than
            // the root it has (a node without a live root takes any).
            let rank = policy.open_policy.rank(tree as u8, e.root);
            let current = t
                .router
                .tree_state(tree)
                .filter(|(r, _)| {
                    (t.router.is_attached(tree) || t.router.is_root(tree))
                        && t.router.lost_root(tree) != Some(*r)
                })
                .and_then(|(r, _)| policy.open_policy.rank(tree as u8, r));
            if current.is_some_and(|c| rank >= Some(c)) {
                continue;
            }
            if t.claims.asked.recently(e.root, now) {
                continue;
            }
            t.claims.asked.note(e.root, now);
            self.send_claim_request(from, tree as u8, e.root, e.epoch);
            // A neighbour that has not heard our beacon yet drops the request (unknown
            // sender): beacon soon, so that the retry at its next beacon is heard.
            if let Some(t) = self.tree_mut() {
                let at = now.max(t.last_early_beacon + t.interval / 4);
                t.last_early_beacon = at;
                self.next_beacon = self.next_beacon.min(at);
            }
        }
    }

    /// A node attached to a root whose claim it does not hold (it admitted the claim while
    /// another root was better) asks its parent for it, so it can answer its own neighbours.
    pub(super) fn refresh_claims(&mut self, now: Instant) {
        if self.security.is_none() {
            return;
        }
        for tree in 0..MAX_TREES {
            let Some(t) = self.tree_mut() else { return };
            if !t.router.is_attached(tree) || t.router.is_root(tree) {
                continue;
            }
            let Some((root, epoch)) = t.router.tree_state(tree) else {
                continue;
            };
            let held = t.claims.held[tree].as_ref().map(|h| h.0);
            if held == Some(root) || t.claims.asked.recently(root, now) {
                continue;
            }
            let Some(parent) = t.router.parent(tree).and_then(|p| t.nb_node(p)) else {
                continue;
            };
            t.claims.asked.note(root, now);
            self.send_claim_request(parent, tree as u8, root, epoch);
        }
    }

    /// Ask neighbour `to` for the claim of `root` in `tree` (an unsigned claim).
    fn send_claim_request(&mut self, to: NodeId, tree: u8, root: ShortId, epoch: u16) {
        let mut subject = [0u8; 8];
        subject[..4].copy_from_slice(&root.0);
        let ask = TreeRepr {
            op: Op::Claim,
            tree,
            epoch,
            subject: NodeId(subject),
            address: Address::Coords(Coords::ROOT),
        };
        let mut buf = [0u8; M];
        if let (Ok(len), Some((link, addr))) = (
            FrameRepr::new(Body::Tree(ask)).emit(&mut buf),
            self.neighbour_link(&to),
        ) {
            self.push_frame(link, addr, &buf[..len], true);
        }
    }

    /// Answer a claim request with the claim held for that tree and root, if any.
    fn answer_claim_request(&mut self, from: NodeId, msg: &TreeRepr) {
        let Some(t) = self.tree() else { return };
        let Some(Some((root, _, bytes))) = t.claims.held.get(usize::from(msg.tree)) else {
            return;
        };
        if root.0 != msg.subject.0[..4] {
            return;
        }
        let held = bytes.clone();
        let Ok(repr) = TreeRepr::parse(&hyphae_wire::tree::Packet::new_unchecked(&held[..])) else {
            return;
        };
        let Some((link, to)) = self.neighbour_link(&from) else {
            return;
        };
        let mut buf = [0u8; M];
        if let Some(len) = claim_frame(&repr, &held, &mut buf) {
            self.push_frame(link, to, &buf[..len], true);
        }
    }

    fn hold_claim(&mut self, msg: &TreeRepr, raw: &[u8]) {
        let Some(t) = self.tree_mut() else { return };
        if let (Some(slot), Ok(bytes)) = (
            t.claims.held.get_mut(usize::from(msg.tree)),
            heapless::Vec::from_slice(raw),
        ) {
            *slot = Some((msg.subject.short(), msg.epoch, bytes));
        }
    }

    fn broadcast_claim(&mut self, msg: &TreeRepr, raw: &[u8]) -> bool {
        let mut buf = [0u8; M];
        match claim_frame(msg, raw, &mut buf) {
            Some(len) => self.push_broadcast(&buf[..len], true),
            None => false,
        }
    }
}

/// A one-hop frame whose body is the signed claim `raw` (Tree body `msg` and its trailer).
fn claim_frame(msg: &TreeRepr, raw: &[u8], buf: &mut [u8]) -> Option<usize> {
    let trailer = raw.get(msg.buffer_len()..)?;
    FrameRepr::new(Body::SignedTree(*msg, trailer))
        .emit(buf)
        .ok()
}
