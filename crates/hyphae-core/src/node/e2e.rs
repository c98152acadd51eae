//! End-to-end envelopes for application payloads (`docs/spec/security.md` §5.4, §6.4, §15).
//!
//! With a security context and [`crate::Config::e2e`] (opt-in), every unicast payload
//! given to [`Node::send`] is sealed for its destination before it is cut into frames: the
//! transfer content becomes `Package header ‖ key id ‖ counter ‖ ciphertext ‖ tag` (21 bytes
//! more per transfer, not per frame), so relays, which open and reseal every frame hop by hop,
//! see only ciphertext and cannot alter it undetected. The destination opens the envelope after
//! reassembly and delivers the plaintext; an envelope that does not open is dropped
//! ([`DropReason::EndToEnd`]) and answered with a `Rejected` notice (the send fails).
//!
//! Keys come from an ephemeral offer/accept exchange (forward secrecy): the source routes its
//! credential (Handshake op 7) and an offer (op 4) to the destination, which verifies the
//! credential against the admin keys (binding the node id to the public key), checks the
//! offer's signature, answers with its own credential and an accept (op 5), and both derive the
//! session keys. A transfer waits (as for a route) until the session is up; at most
//! [`E2E_SESSIONS`] sessions and [`E2E_PENDING`] exchanges are kept. A destination that
//! restarted and lost its session rejects the envelope, answers `Rejected` and offers a new
//! session itself; the source forgets the old one on `Rejected`, so the next send uses the new.

use hyphae_crypto::e2e::{E2eOffer, open_envelope, seal_envelope};
use hyphae_crypto::handshake::{CREDENTIAL_MSG_LEN, E2E_LEN, Message};
use hyphae_crypto::{Credential, KeyClass, KeyId, PublicIdentity};
use hyphae_wire::frame::Body;
use hyphae_wire::{AppId, NodeId, PackageRepr};

use super::Node;
use crate::arena::Region;
use crate::event::DropReason;
use crate::security::Reserve;
use crate::session::{E2ePending, MAX_ATTEMPTS};
use crate::time::Instant;

pub use crate::session::{E2E_PENDING, E2E_SESSIONS};
/// Bytes the end-to-end envelope adds to a unicast payload (once per transfer).
pub use hyphae_crypto::e2e::ENVELOPE_OVERHEAD;

/// Times a transfer is sent again under a new end-to-end session after its destination
/// rejected the envelope (it had lost the session).
const E2E_RETRIES: u8 = 3;

fn cid(id: NodeId) -> hyphae_crypto::NodeId {
    hyphae_crypto::NodeId(id.0)
}

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// Whether unicast payloads are sealed end to end.
    pub(super) fn e2e_on(&self) -> bool {
        self.security.is_some() && self.config.e2e
    }

    /// Whether this node has an end-to-end session with `peer`.
    pub fn has_e2e_session(&self, peer: &NodeId) -> bool {
        self.security
            .as_ref()
            .is_some_and(|s| s.sessions.e2e(peer).is_some())
    }

    /// Whether a transfer in progress (either way) involves `peer`: its session must stay.
    fn e2e_busy(&self, peer: hyphae_crypto::NodeId) -> bool {
        self.inbound.iter().any(|t| t.from.0 == peer.0)
            || self
                .outbound
                .iter()
                .any(|t| t.e2e && !t.seal_e2e && t.dest.is_some_and(|d| d.0 == peer.0))
    }

    /// The least recently used session that may give way to a new one: idle for a while (past
    /// the time an accepted session needs to see its first transfer) and with no transfer in
    /// progress.
    fn e2e_evictable(&self, now: Instant) -> Option<usize> {
        let s = self.security.as_ref()?;
        let grace = self.config.rto_initial * 2;
        s.sessions
            .e2e
            .iter()
            .enumerate()
            .filter(|(_, e)| now.saturating_since(e.used) > grace && !self.e2e_busy(e.keys.peer))
            .min_by_key(|(_, e)| e.used)
            .map(|(i, _)| i)
    }

    /// Make room for a session with `peer`: `false` when the table is full of sessions in use
    /// (the exchange waits: its retries come back later).
    fn e2e_make_room(&mut self, now: Instant, peer: NodeId) -> bool {
        let Some(s) = self.security.as_ref() else {
            return false;
        };
        if s.sessions.e2e(&peer).is_some() || !s.sessions.e2e.is_full() {
            return true;
        }
        let Some(i) = self.e2e_evictable(now) else {
            return false;
        };
        if let Some(s) = self.security.as_mut() {
            s.sessions.e2e.swap_remove(i);
        }
        true
    }

    /// Seal the content of outbound transfer `i` for its destination. `false` while there is
    /// no session yet (the exchange is started) or no confirmed counter.
    pub(super) fn e2e_seal(&mut self, now: Instant, i: usize) -> bool {
        let t = &self.outbound[i];
        let (Some(dest), app, region) = (t.dest, t.app, t.region) else {
            return true;
        };
        let me = cid(self.id);
        let Some(s) = self.security.as_mut() else {
            return false;
        };
        let Some(slot) = s.sessions.e2e.iter_mut().find(|e| e.keys.peer == cid(dest)) else {
            self.e2e_start(now, dest);
            return false;
        };
        let mut store = Reserve(s.persisted);
        let Ok(counter) = s.inner.next_counter(&mut store) else {
            self.ask_reservation();
            return false;
        };
        s.next += 1;
        slot.used = now;
        let buf = self.out_arena.get_mut(region);
        let (head, envelope) = buf.split_at_mut(hyphae_wire::package::HEADER_LEN);
        let sealed = seal_envelope(
            &slot.keys.send,
            &me,
            counter,
            &app.0.to_le_bytes(),
            envelope,
        );
        let header = PackageRepr::for_payload(app, envelope);
        let emitted = matches!((sealed, header), (Ok(()), Ok(h)) if h.emit(head).is_ok());
        self.ask_reservation();
        if emitted {
            self.outbound[i].seal_e2e = false;
        } else {
            self.counters.seal_failures += 1;
        }
        emitted
    }

    /// Start an end-to-end exchange with `peer` unless one is running.
    pub(super) fn e2e_start(&mut self, now: Instant, peer: NodeId) {
        let Some(s) = self.security.as_mut() else {
            return;
        };
        let p = &mut s.sessions.e2e_pending;
        if p.iter().any(|e| e.peer == peer) {
            return;
        }
        if p.is_full() {
            // The oldest exchange that is not answered gives way.
            if let Some(i) = p
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.next)
                .map(|(i, _)| i)
            {
                p.swap_remove(i);
            }
        }
        let _ = p.push(E2ePending {
            peer,
            offer: None,
            attempts: 0,
            next: now,
        });
        self.e2e_offer(now, peer);
    }

    /// (Re)send our credential and a fresh offer to `peer` (when it is routable).
    fn e2e_offer(&mut self, now: Instant, peer: NodeId) {
        // Twice the first retransmission timeout, doubling: four tries within `route_wait`
        // at the defaults (0.6, 1.2, 2.4 s).
        let retry = self.config.rto_initial * 2;
        // Jittered, so that two sources that started together do not collide again at a
        // common neighbour on every retry.
        let jitter =
            core::time::Duration::from_micros(self.rng.below(retry.as_micros() as u64 / 2 + 1));
        let routable = self.route_to(&peer).is_some() && self.e2e_has_room(now, peer);
        let Some(s) = self.security.as_mut() else {
            return;
        };
        let ss = &mut s.sessions;
        let Some(pi) = ss.e2e_pending.iter().position(|e| e.peer == peer) else {
            return;
        };
        let attempts = ss.e2e_pending[pi].attempts;
        ss.e2e_pending[pi].next = now + retry * (1u32 << attempts.min(5)) + jitter;
        if !routable {
            return;
        }
        let session = ss.rng.byte() & 0x3F;
        let mut offer = [0u8; E2E_LEN];
        let Ok((state, n)) = E2eOffer::start(
            s.inner.identity(),
            cid(peer),
            session,
            s.inner.network_id(),
            &mut ss.rng,
            &mut offer,
        ) else {
            return;
        };
        ss.e2e_pending[pi].offer = Some(state);
        ss.e2e_pending[pi].attempts = attempts.saturating_add(1);
        let mut cred = [0u8; CREDENTIAL_MSG_LEN];
        let Some(c) = own_credential(s.inner.credential(), cid(self.id), &mut cred) else {
            return;
        };
        self.queue_to(peer, Body::Handshake(&cred[..c]));
        self.queue_to(peer, Body::Handshake(&offer[..n]));
    }

    /// Whether a session with `peer` could be installed now (without evicting one in use).
    fn e2e_has_room(&self, now: Instant, peer: NodeId) -> bool {
        self.security
            .as_ref()
            .is_some_and(|s| s.sessions.e2e(&peer).is_some() || !s.sessions.e2e.is_full())
            || self.e2e_evictable(now).is_some()
    }

    /// Retry or give up exchanges whose time has come.
    pub(super) fn e2e_timers(&mut self, now: Instant) {
        let Some(s) = self.security.as_mut() else {
            return;
        };
        s.sessions
            .e2e_pending
            .retain(|e| e.attempts < MAX_ATTEMPTS || e.next > now);
        let mut due: heapless::Vec<NodeId, E2E_PENDING> = heapless::Vec::new();
        for e in &s.sessions.e2e_pending {
            if e.next <= now {
                let _ = due.push(e.peer);
            }
        }
        for peer in due {
            self.e2e_offer(now, peer);
        }
    }

    /// The next exchange retry.
    pub(super) fn e2e_timeout(&self) -> Option<Instant> {
        let s = self.security.as_ref()?;
        s.sessions.e2e_pending.iter().map(|e| e.next).min()
    }

    /// The destination of outbound transfer `i` rejected it. If its content is an envelope
    /// under our current session with the destination (which the destination may have lost:
    /// evicted from its bounded table, or a restart), forget that session, turn the content back
    /// into plaintext and send the transfer again, under a new transfer id, once the new session
    /// is up — at most [`E2E_RETRIES`] times. `false` when it does not apply (then the send
    /// fails).
    pub(super) fn e2e_retry(&mut self, i: usize) -> bool {
        let t = &self.outbound[i];
        let (Some(dest), true, false) = (t.dest, t.e2e, t.seal_e2e) else {
            return false;
        };
        let retries = t.e2e_retries;
        if retries >= E2E_RETRIES {
            return false;
        }
        let (send, app, region) = (t.send, t.app, t.region);
        let me = cid(self.id);
        let Some(s) = self.security.as_mut() else {
            return false;
        };
        let Some(pos) = s.sessions.e2e.iter().position(|e| e.keys.peer == cid(dest)) else {
            return false;
        };
        let slot = s.sessions.e2e.swap_remove(pos);
        let content = self.out_arena.get_mut(region);
        let Some(envelope) = content.get_mut(hyphae_wire::package::HEADER_LEN..) else {
            return false;
        };
        if envelope.first() != Some(&slot.keys.send.id().0) || !unseal(&slot, &me, app, envelope) {
            return false;
        }
        let now = self.last_now;
        let id = self.next_transfer & 0x7fff;
        self.next_transfer = self.next_transfer.wrapping_add(1);
        let mut t = super::transfer::OutTransfer::new(
            send,
            app,
            Some(dest),
            id,
            region,
            now,
            self.config.rto_initial,
            self.config.effective_window(),
        );
        t.e2e = true;
        t.seal_e2e = true;
        t.e2e_retries = retries + 1;
        self.outbound[i] = t;
        self.activate(now);
        true
    }

    /// Open the envelope of a unicast payload from `origin` for `app`, held in `region` at
    /// `offset..offset + len`, in place; the plaintext's offset and length, or `None` (dropped
    /// and counted). Without end-to-end security the payload is returned as it is.
    pub(super) fn e2e_open(
        &mut self,
        now: Instant,
        origin: NodeId,
        app: AppId,
        region: Region,
        offset: usize,
        len: usize,
    ) -> Option<(usize, usize)> {
        if !self.e2e_on() {
            return Some((offset, len));
        }
        let s = self.security.as_mut()?;
        let buf = self
            .in_arena
            .get_mut(region)
            .get_mut(offset..offset + len)?;
        let Some(&kid) = buf.first() else {
            self.counters.drop(DropReason::EndToEnd);
            return None;
        };
        let Some(slot) = s
            .sessions
            .e2e
            .iter_mut()
            .find(|e| e.keys.peer == cid(origin) && e.keys.recv.id() == KeyId(kid))
        else {
            if KeyId(kid).class() == KeyClass::EndToEnd {
                // The source holds a session this node lost (evicted, or a restart): the
                // `Rejected` notice makes it negotiate a new one and send again.
                self.counters.drop(DropReason::UnknownKey);
            } else {
                self.counters.drop(DropReason::EndToEnd);
            }
            return None;
        };
        match open_envelope(
            &slot.keys.recv,
            &cid(origin),
            &app.0.to_le_bytes(),
            buf,
            &mut slot.window,
        ) {
            Ok(r) => {
                slot.used = now;
                Some((offset + r.start, r.end - r.start))
            }
            Err(hyphae_crypto::Error::Replay) => {
                self.counters.drop(DropReason::Replayed);
                None
            }
            Err(_) => {
                self.counters.drop(DropReason::EndToEnd);
                None
            }
        }
    }

    /// A Handshake body of the end-to-end exchange (ops 4–7) from `origin`.
    pub(super) fn on_e2e_handshake(
        &mut self,
        now: Instant,
        origin: NodeId,
        msg: &Message<'_>,
        body: &[u8],
    ) {
        let me = cid(self.id);
        if let Message::EndToEnd { accept, .. } = *msg
            && !self.e2e_make_room(now, origin)
        {
            // Every session is in use: the offer waits for the source's retry. An accept is
            // installed regardless (replacing the least recently used session): this node
            // offered only when it had room.
            if !accept {
                self.counters.drop(DropReason::Busy);
                return;
            }
        }
        let Some(s) = self.security.as_mut() else {
            self.counters.drop(DropReason::Unsupported);
            return;
        };
        let ctx = s.inner.handshake(None);
        let ss = &mut s.sessions;
        match *msg {
            Message::CredentialRequest { sender, target }
                if sender.0 == origin.0 && target == me =>
            {
                let mut cred = [0u8; CREDENTIAL_MSG_LEN];
                if let Some(c) = own_credential(ctx.credential, me, &mut cred) {
                    self.queue_to(origin, Body::Handshake(&cred[..c]));
                }
            }
            Message::Credential { sender, credential } if sender.0 == origin.0 => {
                match Credential::verify(credential, ctx.admins, ctx.network_id, ctx.now) {
                    // Only a node's own credential: it binds the node id to the public key.
                    Ok(c) if c.node_id() == sender && sender != me => {
                        ss.learn_key(origin, c.node.to_bytes(), now);
                    }
                    _ => self.counters.drop(DropReason::BadHandshake),
                }
            }
            Message::EndToEnd {
                accept: false,
                sender,
                target,
                ..
            } if sender.0 == origin.0 && target == me => {
                let Some(key) = ss.key_of(&origin) else {
                    self.counters.drop(DropReason::UnknownKey);
                    return;
                };
                if let Some(i) = ss.e2e_pending.iter().position(|e| e.peer == origin) {
                    if ss.e2e_pending[i].offer.is_some() && self.id < origin {
                        // Crossing offers: the lower node id's offer wins.
                        self.counters.drop(DropReason::Stale);
                        return;
                    }
                    ss.e2e_pending.swap_remove(i);
                }
                let mut accept = [0u8; E2E_LEN];
                let keys = PublicIdentity::from_bytes(&key).and_then(|peer| {
                    E2eOffer::accept(
                        ctx.suite,
                        ctx.identity,
                        &peer,
                        ctx.network_id,
                        body,
                        &mut ss.rng,
                        &mut accept,
                    )
                });
                let Ok((keys, n)) = keys else {
                    self.counters.drop(DropReason::BadHandshake);
                    return;
                };
                ss.install_e2e(keys, now);
                self.counters.e2e_sessions += 1;
                let mut cred = [0u8; CREDENTIAL_MSG_LEN];
                if let Some(c) = own_credential(ctx.credential, me, &mut cred) {
                    self.queue_to(origin, Body::Handshake(&cred[..c]));
                }
                self.queue_to(origin, Body::Handshake(&accept[..n]));
                self.activate(now);
            }
            Message::EndToEnd {
                accept: true,
                sender,
                target,
                ..
            } if sender.0 == origin.0 && target == me => {
                let Some(i) = ss
                    .e2e_pending
                    .iter()
                    .position(|e| e.peer == origin && e.offer.is_some())
                else {
                    self.counters.drop(DropReason::BadHandshake);
                    return;
                };
                let Some(key) = ss.key_of(&origin) else {
                    self.counters.drop(DropReason::UnknownKey);
                    return;
                };
                let Ok(peer) = PublicIdentity::from_bytes(&key) else {
                    self.counters.drop(DropReason::BadHandshake);
                    return;
                };
                let Some(offer) = ss.e2e_pending[i].offer.take() else {
                    return;
                };
                match offer.finish(ctx.suite, ctx.identity, &peer, ctx.network_id, body) {
                    Ok(keys) => {
                        ss.install_e2e(keys, now);
                        self.counters.e2e_sessions += 1;
                        self.activate(now);
                    }
                    // The offer is spent; the retry timer sends a new one.
                    Err(_) => self.counters.drop(DropReason::BadHandshake),
                }
            }
            _ => self.counters.drop(DropReason::BadHandshake),
        }
    }
}

/// Decrypt our own envelope (sealed with `slot`'s send key) back into plaintext in place.
fn unseal(
    slot: &crate::session::E2eSlot,
    me: &hyphae_crypto::NodeId,
    app: AppId,
    env: &mut [u8],
) -> bool {
    use hyphae_crypto::e2e::ENVELOPE_HEADER_LEN;
    use hyphae_crypto::frame::TAG_LEN;
    let Some(end) = env.len().checked_sub(TAG_LEN) else {
        return false;
    };
    if end < ENVELOPE_HEADER_LEN {
        return false;
    }
    let mut c = [0u8; 4];
    c.copy_from_slice(&env[1..ENVELOPE_HEADER_LEN]);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&env[end..]);
    hyphae_crypto::frame::open(
        &slot.keys.send,
        me,
        u32::from_le_bytes(c),
        &app.0.to_le_bytes(),
        &mut env[ENVELOPE_HEADER_LEN..end],
        &tag,
    )
    .is_ok()
}

/// Emit this node's credential as a Handshake op 7 body.
fn own_credential(
    credential: &Credential,
    me: hyphae_crypto::NodeId,
    out: &mut [u8; CREDENTIAL_MSG_LEN],
) -> Option<usize> {
    let mut c = [0u8; hyphae_crypto::credential::CREDENTIAL_LEN];
    credential.emit(&mut c).ok()?;
    Message::Credential {
        sender: me,
        credential: &c,
    }
    .emit(out)
    .ok()
}
