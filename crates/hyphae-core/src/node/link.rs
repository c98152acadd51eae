//! The X25519 link handshake driven by the node, and which key seals and opens each frame
//! (`docs/spec/security.md` §5, §6.3 and §15).
//!
//! - **When**: after an authenticated beacon from a neighbour without a link session, the
//!   lower node id initiates at once and the higher one after three beacon intervals (so
//!   simultaneous initiations are rare; when they happen, the lower id's Init wins). Again when
//!   a neighbour's frames arrive [`STRIKES`] times under a link key this node does not hold, or
//!   under the network key although a link session exists (the peer restarted and lost its
//!   session, or an insider is impersonating it). Attempts back off exponentially per
//!   neighbour; a handshake not finished within a beacon interval (at least a second) is
//!   abandoned.
//! - **Bounded**: [`LINK_SESSIONS`] sessions (least recently used replaced; discovery only
//!   fills free slots, traffic may replace), [`PENDING_HANDSHAKES`] handshakes in progress,
//!   sessions dropped with their peer.
//! - **Keys**: a unicast frame to a neighbour with a session is sealed with the link key
//!   (key id class Link); broadcasts and one-hop Handshake frames use the network key. Unicast
//!   before the session is up uses the network key. A unicast-form frame (see
//!   `unicast_form`) under the network key from a neighbour with a session is dropped
//!   ([`DropReason::LinkKeyRequired`]).

use core::time::Duration;

use hyphae_crypto::handshake::{Initiator, Message, RESPONSE_LEN, Responder};
use hyphae_wire::NodeId;
use hyphae_wire::frame::{Body, Frame, FrameRepr};

use super::{Node, Queued};
use crate::config::Routing;
use crate::event::DropReason;
use crate::session::{LinkSlot, PENDING_HANDSHAKES, Pending, Role, STRIKES};
use crate::time::Instant;

pub use crate::session::LINK_SESSIONS;

/// Largest handshake body (a Response).
const BODY_MAX: usize = RESPONSE_LEN;
/// Longest back-off between two handshakes with one neighbour, in beacon intervals.
const BACKOFF_CAP: u32 = 32;

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// Whether this node runs link handshakes (security installed, `Config::link_sessions`).
    pub(super) fn links_on(&self) -> bool {
        self.security.is_some() && self.config.link_sessions
    }

    /// Link sessions currently established (for diagnostics and tests).
    pub fn link_session_count(&self) -> usize {
        self.security.as_ref().map_or(0, |s| s.sessions.links.len())
    }

    /// Whether this node has a link session with neighbour `peer`.
    pub fn has_link_session(&self, peer: &NodeId) -> bool {
        self.security
            .as_ref()
            .is_some_and(|s| s.sessions.link(peer).is_some())
    }

    fn handshake_timeout(&self) -> Duration {
        self.config.beacon_interval.max(Duration::from_secs(1))
    }

    /// An authenticated beacon from neighbour `peer`: handshake if it has no session yet.
    pub(super) fn link_on_beacon(&mut self, now: Instant, peer: NodeId) {
        self.link_maybe_start(now, peer, true);
    }

    /// A frame from `peer` under a key this node lacks, or group-keyed where the link key is
    /// required: after [`STRIKES`] of them, handshake again.
    pub(super) fn link_strike(&mut self, now: Instant, peer: NodeId) {
        if !self.links_on() {
            return;
        }
        let Some(s) = self.security.as_mut() else {
            return;
        };
        let b = s.sessions.backoff(peer, now);
        b.strikes = b.strikes.saturating_add(1);
        if b.strikes >= STRIKES {
            b.strikes = 0;
            self.link_maybe_start(now, peer, false);
        }
    }

    /// Start a handshake with neighbour `peer` when allowed now. `discovery`: only into a free
    /// session slot, and the higher node id waits three beacon intervals first.
    fn link_maybe_start(&mut self, now: Instant, peer: NodeId, discovery: bool) {
        if !self.links_on() || peer == self.id {
            return;
        }
        let beacon = self.config.beacon_interval;
        let higher = self.id > peer;
        let Some(s) = self.security.as_mut() else {
            return;
        };
        let ss = &mut s.sessions;
        if ss.pending.iter().any(|p| p.peer == peer) || ss.pending.len() >= PENDING_HANDSHAKES {
            return;
        }
        if discovery && (ss.link(&peer).is_some() || ss.links.len() >= LINK_SESSIONS) {
            return;
        }
        let known = ss.backoff.iter().any(|b| b.peer == peer);
        let b = ss.backoff(peer, now);
        if !known && discovery && higher {
            b.next = now + beacon * 3;
            return;
        }
        // Traffic that needs a session overrides the discovery delay, not a real back-off.
        if now < b.next && (discovery || b.attempts > 0) {
            return;
        }
        b.attempts = b.attempts.saturating_add(1);
        let shift = u32::from(b.attempts.min(6));
        let wait = beacon * (1u32 << shift).min(BACKOFF_CAP);
        let jitter = self.rng.below(wait.as_micros() as u64 / 4 + 1);
        b.next = now + wait + Duration::from_micros(jitter);
        self.link_start(now, peer);
    }

    fn link_start(&mut self, now: Instant, peer: NodeId) {
        let Some((link, to)) = self.peers.get(&peer).and_then(crate::peers::Peer::route) else {
            return;
        };
        let deadline = now + self.handshake_timeout();
        let Some(s) = self.security.as_mut() else {
            return;
        };
        let mut body = [0u8; BODY_MAX];
        let ctx = s.inner.handshake(None);
        let session = s.sessions.rng.byte() & 0x3F;
        let Ok((ini, n)) = Initiator::start(&ctx, session, &mut s.sessions.rng, &mut body) else {
            return;
        };
        let _ = s.sessions.pending.push(Pending {
            peer,
            role: Role::Initiator(ini),
            deadline,
        });
        self.counters.link_handshakes_started += 1;
        self.queue(link, to, |b| {
            FrameRepr::new(Body::Handshake(&body[..n])).emit(b).ok()
        });
    }

    /// A one-hop link handshake body (ops 1–3) whose named sender is the neighbour `sender`.
    pub(super) fn on_link_handshake(&mut self, now: Instant, sender: NodeId, body: &[u8]) {
        let Some((link, to)) = self.peers.get(&sender).and_then(crate::peers::Peer::route) else {
            self.counters.drop(DropReason::UnknownSender);
            return;
        };
        let deadline = now + self.handshake_timeout();
        let me = self.id;
        let Some(s) = self.security.as_mut() else {
            self.counters.drop(DropReason::Unsupported);
            return;
        };
        let mut out = [0u8; BODY_MAX];
        let ss = &mut s.sessions;
        let ctx = s.inner.handshake(None);
        let mine = ss.pending.iter().position(|p| p.peer == sender);
        // Frames to send (after the borrow of the security context ends) and what happened.
        let (reply, installed, front) = match body.get(8).copied() {
            Some(hyphae_crypto::handshake::op::INIT) => {
                if let Some(i) = mine {
                    if matches!(ss.pending[i].role, Role::Initiator(_)) && me < sender {
                        // Simultaneous initiation: ours (the lower id) wins.
                        self.counters.drop(DropReason::Stale);
                        return;
                    }
                    ss.pending.swap_remove(i);
                }
                if ss.pending.is_full() {
                    self.counters.drop(DropReason::Busy);
                    return;
                }
                match Responder::respond(&ctx, body, &mut ss.rng, &mut out) {
                    Ok((r, n)) => {
                        let _ = ss.pending.push(Pending {
                            peer: sender,
                            role: Role::Responder(r),
                            deadline,
                        });
                        (n, None, false)
                    }
                    Err(_) => {
                        self.counters.drop(DropReason::BadHandshake);
                        return;
                    }
                }
            }
            Some(hyphae_crypto::handshake::op::RESPONSE) => {
                let Some(i) = mine.filter(|&i| matches!(ss.pending[i].role, Role::Initiator(_)))
                else {
                    self.counters.drop(DropReason::BadHandshake);
                    return;
                };
                let Role::Initiator(ini) = ss.pending.swap_remove(i).role else {
                    return;
                };
                match ini.finish(&ctx, body, &mut out) {
                    Ok((ls, n)) if ls.peer.node_id().0 == sender.0 => (n, Some(ls), true),
                    _ => {
                        self.counters.drop(DropReason::BadHandshake);
                        return;
                    }
                }
            }
            Some(hyphae_crypto::handshake::op::CONFIRM) => {
                let Some(i) = mine.filter(|&i| matches!(ss.pending[i].role, Role::Responder(_)))
                else {
                    self.counters.drop(DropReason::BadHandshake);
                    return;
                };
                let Role::Responder(r) = ss.pending.swap_remove(i).role else {
                    return;
                };
                match r.finish(body) {
                    Ok(ls) if ls.peer.node_id().0 == sender.0 => (0, Some(ls), false),
                    _ => {
                        self.counters.drop(DropReason::BadHandshake);
                        return;
                    }
                }
            }
            _ => {
                self.counters.drop(DropReason::BadHandshake);
                return;
            }
        };
        if let Some(ls) = installed {
            // The handshake verified the peer's credential: its key checks the peer's signed
            // tree messages (`security.md` §9) after the session is gone too.
            ss.learn_key(sender, ls.peer.node.to_bytes(), now);
            ss.install_link(LinkSlot {
                peer: sender,
                send: ls.send,
                recv: ls.recv,
                window: hyphae_crypto::ReplayWindow::new(),
                since: now,
                used: now,
            });
            self.counters.link_handshakes += 1;
        }
        if reply > 0 {
            let frame = FrameRepr::new(Body::Handshake(&out[..reply]));
            let mut q = Queued {
                link,
                to,
                len: 0,
                control: true,
                retries: 0,
                bytes: [0; M],
            };
            let Ok(len) = frame.emit(&mut q.bytes) else {
                self.counters.drop(DropReason::QueueFull);
                return;
            };
            q.len = len;
            // The Confirm goes ahead of frames already queued for the peer: they are sealed
            // with the new link key at transmission, which the peer installs on the Confirm.
            let pushed = if front {
                self.control.push_front(q).is_ok()
            } else {
                self.control.push_back(q).is_ok()
            };
            if !pushed {
                self.counters.drop(DropReason::QueueFull);
            }
        }
    }

    /// Abandon handshakes past their deadline; forget sessions of neighbours that left.
    pub(super) fn link_timers(&mut self, now: Instant) {
        let peers = &self.peers;
        if let Some(s) = self.security.as_mut() {
            s.sessions.pending.retain(|p| p.deadline > now);
            s.sessions.retain_links(|id| peers.get(id).is_some());
        }
    }

    /// The earliest handshake deadline.
    pub(super) fn link_timeout(&self) -> Option<Instant> {
        let s = self.security.as_ref()?;
        s.sessions.pending.iter().map(|p| p.deadline).min()
    }

    /// Whether a plain frame is one that a neighbour sends to this node alone (so it must come
    /// under the link key when there is a session): transfer frames of unicast transfers,
    /// acknowledgements, status and notices, and routed handshakes — unless flooding, where
    /// routed frames are broadcast.
    pub(super) fn unicast_form(&self, plain: &[u8]) -> bool {
        let Ok(frame) = Frame::parse(plain) else {
            return true;
        };
        let routed = frame.routing.is_some();
        if routed && matches!(self.config.routing, Routing::Flood { .. }) {
            return false;
        }
        match frame.body() {
            Ok(Body::Single(s)) => !super::is_broadcast_transfer(s.transfer),
            Ok(Body::Fragment(f)) => !super::is_broadcast_transfer(f.transfer),
            Ok(Body::Ack { .. } | Body::Status(_) | Body::Notice(_)) => true,
            Ok(Body::Handshake(_)) => routed,
            Ok(_) => false,
            Err(_) => true,
        }
    }

    /// Process a Handshake body: `neighbour` sent the frame, `origin` is its source (itself
    /// unless routed).
    pub(super) fn on_handshake(
        &mut self,
        now: Instant,
        neighbour: NodeId,
        origin: NodeId,
        routed: bool,
        body: &[u8],
    ) {
        if self.security.is_none() {
            self.counters.drop(DropReason::Unsupported);
            return;
        }
        let Ok(msg) = Message::parse(body) else {
            self.counters.drop(DropReason::BadHandshake);
            return;
        };
        match msg {
            Message::Init { sender, .. }
            | Message::Response { sender, .. }
            | Message::Confirm { sender, .. } => {
                if routed || sender.0 != neighbour.0 || !self.links_on() {
                    self.counters.drop(DropReason::BadHandshake);
                    return;
                }
                self.on_link_handshake(now, neighbour, body);
            }
            _ => self.on_e2e_handshake(now, origin, &msg, body),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bodies_fit_the_buffer() {
        use hyphae_crypto::handshake::{CONFIRM_LEN, INIT_LEN, RESPONSE_LEN};
        assert!(super::BODY_MAX >= INIT_LEN.max(RESPONSE_LEN).max(CONFIRM_LEN));
    }
}
