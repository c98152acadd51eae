//! Sealing on the way out and opening on the way in (`crate::security`, `security.md` §15).
//!
//! Frames are built and processed in their plain layout everywhere else in the node; this file
//! turns a plain frame into a sealed one just before it leaves (`seal_out`) and a received
//! sealed frame into its plain layout before anything parses its body (`open_in`).

use hyphae_crypto::frame::{OVERHEAD, SECURE_FLAG, SECURITY_HEADER_LEN, claimed_sender};
use hyphae_crypto::{KeyClass, Protection, SecurityHeader};
use hyphae_link::LinkAddr;
use hyphae_wire::{Frame, NodeId};

use super::Node;
use crate::event::{DropReason, Event};
use crate::links::LinkId;
use crate::security::{Reserve, Security};
use crate::time::Instant;

/// Why a node cannot accept the security context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetSecurityError {
    /// The identity's node id is not the node's id.
    WrongIdentity,
}

impl core::fmt::Display for SetSecurityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the security identity's node id is not this node's id")
    }
}

impl core::error::Error for SetSecurityError {}

/// Beacons and handshakes name their sender in the clear (`security.md` §6.2).
fn names_sender(kind: u8) -> bool {
    kind == 7 || kind == 12
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// Install the security context: from now on every frame is sealed and every received frame
    /// must authenticate. The node's id must be the identity's. The node immediately asks for a
    /// counter reservation ([`crate::Event::CounterReserve`]).
    pub fn set_security(&mut self, security: Security) -> Result<(), SetSecurityError> {
        if security.node_id() != self.id {
            return Err(SetSecurityError::WrongIdentity);
        }
        if !self.secure_mtu {
            for l in self.links.iter_mut() {
                l.info.mtu = l.info.mtu.saturating_sub(OVERHEAD);
            }
            self.secure_mtu = true;
        }
        self.security = Some(security);
        self.close_root_policy();
        self.ask_reservation();
        Ok(())
    }

    /// Whether frames are sealed and checked.
    pub fn is_secure(&self) -> bool {
        self.security.is_some()
    }

    /// The shell stored the reservation `reserved` durably (answer to
    /// [`crate::Event::CounterReserve`]).
    pub fn counter_persisted(&mut self, reserved: u64) {
        if let Some(s) = self.security.as_mut() {
            s.persisted = s.persisted.max(reserved.min(s.requested));
        }
    }

    /// The security context (key rotation, management commands).
    pub fn security_mut(&mut self) -> Option<&mut Security> {
        self.security.as_mut()
    }

    pub(super) fn ask_reservation(&mut self) {
        let Some(s) = self.security.as_mut() else {
            return;
        };
        s.plan_reservation();
        if let Some(r) = s.ask.take() {
            self.push(Event::CounterReserve(r));
        }
    }

    /// Seal the plain frame `buf[..len]` in place; the sealed length, or `None` (counted) when
    /// it cannot be sent.
    pub(super) fn seal_out(
        &mut self,
        now: Instant,
        link: LinkId,
        to: &LinkAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<usize> {
        // A unicast frame to a neighbour with a link session goes under its link key;
        // broadcasts and one-hop handshakes under the network key (`link.rs`).
        let one_hop_handshake = buf.first().is_some_and(|b| b & 0x1f == 12)
            && Frame::parse(&buf[..len]).is_ok_and(|f| f.routing.is_none());
        let link_peer = if self.config.link_sessions && !to.is_broadcast() && !one_hop_handshake {
            self.peers.by_addr(link, to).map(|p| p.id)
        } else {
            None
        };
        let Some(s) = self.security.as_mut() else {
            if self.config.insecure {
                return Some(len);
            }
            self.counters.seal_failures += 1;
            return None;
        };
        let Ok(plain) = Frame::parse(&buf[..len]) else {
            self.counters.seal_failures += 1;
            return None;
        };
        let body_offset = plain.body_offset + SECURITY_HEADER_LEN;
        let sealed = len + OVERHEAD;
        if plain.security.is_some() || sealed > buf.len() {
            self.counters.seal_failures += 1;
            return None;
        }
        buf.copy_within(2..len, 2 + SECURITY_HEADER_LEN);
        buf[2..2 + SECURITY_HEADER_LEN].fill(0);
        buf[len + SECURITY_HEADER_LEN..sealed].fill(0);
        let mut store = Reserve(s.persisted);
        let me = hyphae_crypto::NodeId(self.id.0);
        let protection = Protection::for_kind(buf[0] & 0x1f);
        let result = match link_peer.and_then(|p| s.sessions.link_mut(&p)) {
            Some(slot) => {
                slot.used = now;
                s.inner.next_counter(&mut store).and_then(|c| {
                    hyphae_crypto::seal_frame(
                        &slot.send,
                        &me,
                        c,
                        &mut buf[..sealed],
                        body_offset,
                        protection,
                    )
                })
            }
            None => s
                .inner
                .seal_group(&mut store, &mut buf[..sealed], body_offset),
        };
        match result {
            Ok(()) => {
                s.next += 1;
                if let Some(l) = self.links.get_mut(usize::from(link.0)) {
                    l.charge_extra(now, OVERHEAD);
                }
                self.counters.bytes_out += OVERHEAD as u64;
                self.ask_reservation();
                Some(sealed)
            }
            Err(_) => {
                // No confirmed counter left (or the space is exhausted): ask, and drop.
                self.counters.seal_failures += 1;
                self.ask_reservation();
                None
            }
        }
    }

    /// Open the received frame `bytes` into `out` in its plain layout; its length, or `None`
    /// (dropped and counted).
    pub(super) fn open_in(
        &mut self,
        now: Instant,
        link: LinkId,
        from: &LinkAddr,
        bytes: &[u8],
        out: &mut [u8; M],
    ) -> Option<usize> {
        let Ok(frame) = Frame::parse(bytes) else {
            self.counters.drop(DropReason::Malformed);
            return None;
        };
        if self.security.is_none() {
            if self.config.insecure && frame.security.is_none() {
                out.get_mut(..bytes.len())?.copy_from_slice(bytes);
                return Some(bytes.len());
            }
            self.counters.drop(DropReason::Unauthenticated);
            return None;
        }
        if frame.security.is_none() || bytes.len() > M {
            self.counters.drop(DropReason::Unauthenticated);
            return None;
        }
        let kind = bytes[0] & 0x1f;
        // One-hop beacons and handshakes name their sender; routed handshakes come from the
        // neighbour that relayed them, like every other frame.
        let named = names_sender(kind) && frame.routing.is_none();
        let sender = if named {
            match claimed_sender(bytes, frame.body_offset) {
                Ok(id) => NodeId(id.0),
                Err(_) => {
                    self.counters.drop(DropReason::Malformed);
                    return None;
                }
            }
        } else {
            match self.peers.by_addr_mut(link, from) {
                Some(p) => p.id,
                None => {
                    self.counters.drop(DropReason::UnknownSender);
                    return None;
                }
            }
        };
        if sender == self.id {
            // Our own frame echoed back, or someone claiming to be us.
            self.counters.drop(DropReason::Unauthenticated);
            return None;
        }
        let n = bytes.len();
        out[..n].copy_from_slice(bytes);
        let s = self.security.as_mut()?;
        // Try against a copy of the sender's window: a frame that fails never creates or
        // moves a window (an outsider cannot evict real neighbours' windows).
        let mut window = s
            .windows
            .iter()
            .find(|w| w.0 == sender)
            .map(|w| w.1)
            .unwrap_or_default();
        let secs = u32::try_from(now.as_millis() / 1000).unwrap_or(u32::MAX);
        let csender = hyphae_crypto::NodeId(sender.0);
        let key_id = SecurityHeader::parse(bytes).map(|h| h.key_id);
        let link_keyed = key_id.is_ok_and(|k| k.class() == KeyClass::Link);
        let opened = if link_keyed {
            // Under a link key: only the session with this neighbour can open it.
            match s.sessions.link_mut(&sender) {
                Some(slot) if !named && key_id.is_ok_and(|k| k == slot.recv.id()) => {
                    // The session's own window (see `LinkSlot::window`), updated on success.
                    let opened = hyphae_crypto::open_frame(
                        &slot.recv,
                        &csender,
                        &mut out[..n],
                        frame.body_offset,
                        Protection::for_kind(kind),
                        &mut slot.window,
                    );
                    if opened.is_ok() {
                        slot.used = now;
                    }
                    opened
                }
                _ => Err(hyphae_crypto::Error::UnknownKey),
            }
        } else {
            s.inner.open(
                secs,
                &csender,
                None,
                &mut window,
                &mut out[..n],
                frame.body_offset,
            )
        };
        let body = match opened {
            Ok(range) => range,
            Err(hyphae_crypto::Error::Replay) => {
                self.counters.drop(DropReason::Replayed);
                return None;
            }
            Err(hyphae_crypto::Error::UnknownKey) => {
                self.counters.drop(DropReason::UnknownKey);
                if link_keyed && !named {
                    // The neighbour holds a session this node does not (it lost it).
                    self.link_strike(now, sender);
                }
                return None;
            }
            Err(_) => {
                self.counters.drop(DropReason::Unauthenticated);
                return None;
            }
        };
        if !link_keyed {
            *s.window(sender, now) = window;
        }
        // Group-keyed frames from a neighbour with a link session; whether that session is
        // older than a beacon interval (before, the peer may not have installed it yet).
        let grace = self.config.beacon_interval;
        let session_peer = (!link_keyed && !named)
            .then(|| {
                s.sessions
                    .link(&sender)
                    .map(|l| now.saturating_since(l.since) > grace)
            })
            .flatten();
        // Plain layout: common header (secure flag cleared), routing header, body.
        out[1] &= !SECURE_FLAG;
        let head = frame.body_offset - 2 - SECURITY_HEADER_LEN;
        out.copy_within(2 + SECURITY_HEADER_LEN..frame.body_offset, 2);
        let body_len = body.end - body.start;
        out.copy_within(body, 2 + head);
        let len = 2 + head + body_len;
        if let Some(settled) = session_peer
            && self.config.link_sessions
            && self.unicast_form(&out[..len])
        {
            // Group-keyed unicast from a neighbour we share a link key with: an insider
            // using its address, or a peer that lost its session (`link.rs`).
            self.counters.drop(DropReason::LinkKeyRequired);
            if settled {
                self.link_strike(now, sender);
            }
            return None;
        }
        Some(len)
    }
}
