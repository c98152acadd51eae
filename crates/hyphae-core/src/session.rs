//! Bounded session state of a secure node (`docs/spec/security.md` §5, §6.4, §15): link
//! sessions with neighbours and the handshakes that make them, end-to-end sessions with
//! destinations and the offers that make them, and the node's key-generation RNG.
//!
//! Every table has a fixed capacity (constants below), so a firmware build knows its RAM; when
//! a table is full the least recently used entry goes (link sessions also go with their peer).

use core::convert::Infallible;

use hyphae_crypto::e2e::{E2eOffer, E2eSession};
use hyphae_crypto::handshake::{Initiator, Responder};
use hyphae_crypto::{FrameKey, ReplayWindow};
use hyphae_wire::NodeId;

use crate::time::Instant;

/// Link sessions a node keeps (one per neighbour it exchanges unicast frames with): 8 by
/// default, the ESP32-C3 firmware's RAM budget; 16 or 32 with the `link-sessions-16` or
/// `link-sessions-32` feature (compile-time capacities, as smoltcp does it), which the host
/// shells and the simulator enable. A neighbour beyond the table is served under the network
/// key; more neighbours with traffic than slots make sessions churn (`docs/BENCHMARKS.md`,
/// session 4: p99 latency 7.7 s with 8 slots, 1.1 s with 16, on a 1000-node mesh of mean
/// degree 10).
#[cfg(feature = "link-sessions-32")]
pub const LINK_SESSIONS: usize = 32;
/// Link sessions a node keeps: 16 with the `link-sessions-16` feature.
#[cfg(all(feature = "link-sessions-16", not(feature = "link-sessions-32")))]
pub const LINK_SESSIONS: usize = 16;
/// Link sessions a node keeps: 8 without a `link-sessions-*` feature.
#[cfg(not(any(feature = "link-sessions-16", feature = "link-sessions-32")))]
pub const LINK_SESSIONS: usize = 8;
/// Link handshakes in progress at once (initiator or responder side).
pub const PENDING_HANDSHAKES: usize = 2;
/// Neighbours whose handshake back-off (and failed-open count) is remembered.
pub const BACKOFF_ENTRIES: usize = LINK_SESSIONS;
/// End-to-end sessions a node keeps (one per source or destination).
pub const E2E_SESSIONS: usize = 4;
/// End-to-end key exchanges in progress at once.
pub const E2E_PENDING: usize = 2;
/// Verified public keys of other nodes: end-to-end peers (from their credentials) and
/// neighbours (from link handshakes and credential requests), for the signatures of
/// end-to-end exchanges and signed tree messages (`security.md` §9).
pub const KEYS: usize = 12;
/// Frames from a neighbour under a key the node does not hold (or under the network key where
/// its link key is required) before the node handshakes with it again.
pub const STRIKES: u8 = 3;
/// Handshake or key-exchange attempts before a node waits for new traffic to try again.
pub const MAX_ATTEMPTS: u8 = 6;

/// An established link session with a neighbour.
#[derive(Debug)]
pub(crate) struct LinkSlot {
    pub(crate) peer: NodeId,
    pub(crate) send: FrameKey,
    pub(crate) recv: FrameKey,
    /// Replay window of the frames under this session's key: separate from the sender's
    /// network-key window, so a group-keyed forgery (which any insider can make) cannot push
    /// it ahead and silence link-keyed traffic.
    pub(crate) window: ReplayWindow,
    /// When it was installed.
    pub(crate) since: Instant,
    /// Last seal or open with it.
    pub(crate) used: Instant,
}

/// The role of a node in a handshake in progress.
// No allocator: a fixed slot holds either role, so the larger one sets the slot size anyway.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Role {
    /// Sent Init, waits for Response.
    Initiator(Initiator),
    /// Sent Response, waits for Confirm.
    Responder(Responder),
}

impl core::fmt::Debug for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Initiator(_) => f.write_str("Initiator"),
            Self::Responder(_) => f.write_str("Responder"),
        }
    }
}

/// A link handshake in progress.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) peer: NodeId,
    pub(crate) role: Role,
    /// Abandoned (and retried by the back-off) after this.
    pub(crate) deadline: Instant,
}

/// Handshake back-off and failed-open strikes per neighbour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) peer: NodeId,
    /// Handshakes started since the last success.
    pub(crate) attempts: u8,
    /// No new handshake with the peer before this.
    pub(crate) next: Instant,
    /// Frames under a missing key, or group-keyed unicast, since the last success.
    pub(crate) strikes: u8,
}

/// An established end-to-end session.
#[derive(Debug)]
pub(crate) struct E2eSlot {
    pub(crate) keys: E2eSession,
    /// Replay window for the peer's envelopes.
    pub(crate) window: ReplayWindow,
    pub(crate) used: Instant,
}

/// An end-to-end key exchange this node started.
#[derive(Debug)]
pub(crate) struct E2ePending {
    pub(crate) peer: NodeId,
    pub(crate) offer: Option<E2eOffer>,
    pub(crate) attempts: u8,
    /// Next (re)send of the offer.
    pub(crate) next: Instant,
}

/// All of it, inside [`crate::security::Security`].
#[derive(Debug)]
pub(crate) struct Sessions {
    pub(crate) links: heapless::Vec<LinkSlot, LINK_SESSIONS>,
    pub(crate) pending: heapless::Vec<Pending, PENDING_HANDSHAKES>,
    pub(crate) backoff: heapless::Vec<Backoff, BACKOFF_ENTRIES>,
    pub(crate) e2e: heapless::Vec<E2eSlot, E2E_SESSIONS>,
    pub(crate) e2e_pending: heapless::Vec<E2ePending, E2E_PENDING>,
    /// Public keys (Ed25519, 32 B) of end-to-end peers and neighbours, from verified
    /// credentials and link handshakes; least recently learnt or used replaced.
    pub(crate) keys: heapless::Vec<(NodeId, [u8; 32], Instant), KEYS>,
    /// Ephemeral keys and session numbers come from here.
    pub(crate) rng: Drbg,
}

impl Sessions {
    pub(crate) fn new(rng: Drbg) -> Self {
        Self {
            links: heapless::Vec::new(),
            pending: heapless::Vec::new(),
            backoff: heapless::Vec::new(),
            e2e: heapless::Vec::new(),
            e2e_pending: heapless::Vec::new(),
            keys: heapless::Vec::new(),
            rng,
        }
    }

    pub(crate) fn link(&self, peer: &NodeId) -> Option<&LinkSlot> {
        self.links.iter().find(|l| l.peer == *peer)
    }

    pub(crate) fn link_mut(&mut self, peer: &NodeId) -> Option<&mut LinkSlot> {
        self.links.iter_mut().find(|l| l.peer == *peer)
    }

    /// Install a link session, replacing the peer's previous one or the least recently used.
    pub(crate) fn install_link(&mut self, slot: LinkSlot) {
        self.links.retain(|l| l.peer != slot.peer);
        if self.links.is_full()
            && let Some(i) = lru(self.links.iter().map(|l| l.used))
        {
            self.links.swap_remove(i);
        }
        let peer = slot.peer;
        // Cannot fail: a slot was freed above when full.
        let _ = self.links.push(slot);
        self.backoff.retain(|b| b.peer != peer);
    }

    /// Back-off entry of `peer`, created (due now) when missing; the least recently due entry
    /// is replaced when the table is full.
    pub(crate) fn backoff(&mut self, peer: NodeId, now: Instant) -> &mut Backoff {
        let i = match self.backoff.iter().position(|b| b.peer == peer) {
            Some(i) => i,
            None => {
                if self.backoff.is_full()
                    && let Some(i) = lru(self.backoff.iter().map(|b| b.next))
                {
                    self.backoff.swap_remove(i);
                }
                let _ = self.backoff.push(Backoff {
                    peer,
                    attempts: 0,
                    next: now,
                    strikes: 0,
                });
                self.backoff.len() - 1
            }
        };
        &mut self.backoff[i]
    }

    pub(crate) fn e2e(&self, peer: &NodeId) -> Option<&E2eSlot> {
        self.e2e.iter().find(|s| s.keys.peer.0 == peer.0)
    }

    /// Install an end-to-end session, replacing the peer's previous one or the least recently
    /// used.
    pub(crate) fn install_e2e(&mut self, keys: E2eSession, now: Instant) {
        let peer = keys.peer;
        self.e2e.retain(|s| s.keys.peer != peer);
        if self.e2e.is_full()
            && let Some(i) = lru(self.e2e.iter().map(|s| s.used))
        {
            self.e2e.swap_remove(i);
        }
        let _ = self.e2e.push(E2eSlot {
            keys,
            window: ReplayWindow::new(),
            used: now,
        });
        self.e2e_pending.retain(|p| p.peer.0 != peer.0);
    }

    /// Remember a verified public key.
    pub(crate) fn learn_key(&mut self, peer: NodeId, key: [u8; 32], now: Instant) {
        self.keys.retain(|k| k.0 != peer);
        if self.keys.is_full()
            && let Some(i) = lru(self.keys.iter().map(|k| k.2))
        {
            self.keys.swap_remove(i);
        }
        let _ = self.keys.push((peer, key, now));
    }

    pub(crate) fn key_of(&self, peer: &NodeId) -> Option<[u8; 32]> {
        self.keys.iter().find(|k| k.0 == *peer).map(|k| k.1)
    }

    /// `peer`'s key was used now: it stays longer.
    pub(crate) fn key_used(&mut self, peer: &NodeId, now: Instant) {
        if let Some(k) = self.keys.iter_mut().find(|k| k.0 == *peer) {
            k.2 = now;
        }
    }

    /// Forget every session with a neighbour that left the peer table.
    pub(crate) fn retain_links(&mut self, mut present: impl FnMut(&NodeId) -> bool) {
        self.links.retain(|l| present(&l.peer));
        self.pending.retain(|p| present(&p.peer));
    }
}

fn lru(times: impl Iterator<Item = Instant>) -> Option<usize> {
    times.enumerate().min_by_key(|(_, t)| *t).map(|(i, _)| i)
}

/// The node's key-generation RNG: HKDF-SHA256 in counter mode over a 32-byte state that is
/// replaced after every request (so a later compromise of the state reveals nothing drawn
/// before). Seeded by the shell ([`crate::security::Security::with_entropy`]); without shell
/// entropy the seed is the node's deterministic signature over its stored counter reservation:
/// different on every boot that stored a new reservation (a boot that crashes before its first
/// reservation is stored repeats the previous boot's seed), and derivable from the identity key
/// (no forward secrecy against a later theft of that key) — shells with a hardware or OS RNG
/// must provide entropy.
pub(crate) struct Drbg {
    state: [u8; 32],
    blocks: u64,
}

impl core::fmt::Debug for Drbg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Drbg")
    }
}

impl Drbg {
    pub(crate) fn new(seed: &[u8], context: &[u8]) -> Self {
        let mut state = [0u8; 32];
        hyphae_crypto::keys::derive(seed, context, b"drbg-seed", &[], &mut state);
        Self { state, blocks: 0 }
    }

    /// Mix more entropy in.
    pub(crate) fn reseed(&mut self, entropy: &[u8]) {
        let old = self.state;
        hyphae_crypto::keys::derive(entropy, &old, b"drbg-reseed", &[], &mut self.state);
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            let mut block = [0u8; 32];
            self.blocks = self.blocks.wrapping_add(1);
            hyphae_crypto::keys::derive(
                &self.state,
                b"",
                b"drbg-out",
                &[&self.blocks.to_le_bytes()],
                &mut block,
            );
            chunk.copy_from_slice(&block[..chunk.len()]);
            block.fill(0);
        }
        let old = self.state;
        hyphae_crypto::keys::derive(&old, b"", b"drbg-next", &[], &mut self.state);
    }

    pub(crate) fn byte(&mut self) -> u8 {
        let mut b = [0u8; 1];
        self.fill(&mut b);
        b[0]
    }
}

impl Drop for Drbg {
    fn drop(&mut self) {
        self.state.fill(0);
    }
}

impl rand_core::TryRng for Drbg {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Drbg {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables must stay small: every node carries them (`docs/BENCHMARKS.md`).
    #[test]
    fn sessions_stay_small() {
        extern crate std;
        std::println!(
            "Sessions {} = links {} × {} + pending {} × {} + backoff {} × {} + e2e {} × {} + \
             e2e pending {} × {} + keys {} × {} + rng {}",
            size_of::<Sessions>(),
            LINK_SESSIONS,
            size_of::<LinkSlot>(),
            PENDING_HANDSHAKES,
            size_of::<Pending>(),
            BACKOFF_ENTRIES,
            size_of::<Backoff>(),
            E2E_SESSIONS,
            size_of::<E2eSlot>(),
            E2E_PENDING,
            size_of::<E2ePending>(),
            KEYS,
            size_of::<(NodeId, [u8; 32], Instant)>(),
            size_of::<Drbg>(),
        );
        // 3 KiB with the default 8 link sessions; each further one adds a slot and a back-off
        // entry. Plus the key cache growing from 4 to 12 entries for the neighbours' keys that
        // verify signed tree messages (`security.md` §9.2).
        let extra = (LINK_SESSIONS - 8) * (size_of::<LinkSlot>() + size_of::<Backoff>());
        assert!(size_of::<Sessions>() <= 3 * 1024 + 384 + extra);
    }
}
