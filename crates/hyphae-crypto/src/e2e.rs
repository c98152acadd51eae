//! End-to-end keys between a source and a destination, and the inner envelope that carries
//! application payloads across relays (`security.md` §6.4).
//!
//! Two modes:
//! - **static**: keys from the static-static X25519 of the two identities. No message
//!   exchange, so the first frame to a destination is already protected; no forward secrecy.
//! - **ephemeral**: an offer/accept exchange (two routed Handshake bodies of 114 B each) mixes
//!   an ephemeral-ephemeral X25519 in, giving forward secrecy per session.

use core::ops::Range;

use rand_core::TryCryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroize;

use crate::control::digest;
use crate::error::{Error, Result};
use crate::frame::{TAG_LEN, open, seal};
use crate::handshake::{E2E_LEN, Message, dh, ephemeral};
use crate::identity::{Identity, NodeId, PublicIdentity, SIGNATURE_LEN};
use crate::keys::{FrameKey, KeyClass, KeyId, Suite, derive};
use crate::replay::ReplayWindow;

/// Envelope header: key id (1) + counter (4).
pub const ENVELOPE_HEADER_LEN: usize = 5;
/// Bytes the inner envelope adds to an application payload.
pub const ENVELOPE_OVERHEAD: usize = ENVELOPE_HEADER_LEN + TAG_LEN;

/// Directional end-to-end keys with one peer.
#[derive(Debug, Clone)]
pub struct E2eSession {
    /// The peer.
    pub peer: NodeId,
    /// Key to seal envelopes to the peer.
    pub send: FrameKey,
    /// Key to open envelopes from the peer.
    pub recv: FrameKey,
}

fn session_keys(
    suite: Suite,
    me: &Identity,
    peer: &PublicIdentity,
    session: u8,
    network_id: &[u8; 32],
    eph: Option<(&StaticSecret, &[u8; 32], &[u8; 32])>,
) -> Result<E2eSession> {
    let mut ikm = [0u8; 64];
    ikm[..32].copy_from_slice(&dh(&me.x25519(), peer.x25519().as_bytes())?);
    let (ikm_len, label): (usize, &[u8]) = match eph {
        Some((s, peer_eph, _)) => {
            ikm[32..].copy_from_slice(&dh(s, peer_eph)?);
            (64, b"e2e-ephemeral")
        }
        None => (32, b"e2e-static"),
    };
    let salt: &[u8; 32] = match eph {
        Some((_, _, t)) => t,
        None => network_id,
    };
    let (a, b) = (me.node_id(), peer.node_id());
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let mut okm = [0u8; 64];
    derive(
        &ikm[..ikm_len],
        salt,
        label,
        &[&lo.0, &hi.0, &[session]],
        &mut okm,
    );
    ikm.zeroize();
    let id = KeyId::end_to_end(session);
    let mut k1 = [0u8; 32];
    let mut k2 = [0u8; 32];
    k1.copy_from_slice(&okm[..32]);
    k2.copy_from_slice(&okm[32..]);
    okm.zeroize();
    let lo_to_hi = FrameKey::new(suite, id, &k1);
    let hi_to_lo = FrameKey::new(suite, id, &k2);
    k1.zeroize();
    k2.zeroize();
    let (send, recv) = if a == lo {
        (lo_to_hi, hi_to_lo)
    } else {
        (hi_to_lo, lo_to_hi)
    };
    Ok(E2eSession {
        peer: b,
        send,
        recv,
    })
}

impl E2eSession {
    /// Static-static keys with `peer` (whose identity came from its verified credential).
    pub fn new_static(
        suite: Suite,
        me: &Identity,
        peer: &PublicIdentity,
        session: u8,
        network_id: &[u8; 32],
    ) -> Result<Self> {
        session_keys(suite, me, peer, session, network_id, None)
    }
}

/// The source side of an ephemeral end-to-end session, between offer and accept.
pub struct E2eOffer {
    eph: StaticSecret,
    offer: [u8; E2E_LEN],
    target: NodeId,
    session: u8,
}

impl core::fmt::Debug for E2eOffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "E2eOffer(to {} session {})", self.target, self.session)
    }
}

#[allow(clippy::too_many_arguments)] // private helper
fn e2e_message(
    accept: bool,
    me: &Identity,
    session: u8,
    target: NodeId,
    eph: &StaticSecret,
    network_id: &[u8; 32],
    offer: &[u8],
    out: &mut [u8; E2E_LEN],
) -> Result<()> {
    let mut m = Message::EndToEnd {
        accept,
        sender: me.node_id(),
        session,
        target,
        ephemeral: PublicKey::from(eph).to_bytes(),
        signature: [0; SIGNATURE_LEN],
    };
    m.emit(out)?;
    let label: &[u8] = if accept { b"e2e-accept" } else { b"e2e-offer" };
    let d = digest(label, &[network_id, offer, &out[..E2E_LEN - SIGNATURE_LEN]]);
    if let Message::EndToEnd { signature, .. } = &mut m {
        *signature = me.sign(&d);
    }
    m.emit(out)?;
    Ok(())
}

impl E2eOffer {
    /// Offer an ephemeral session to `target`; writes the offer body into `out`.
    pub fn start<R: TryCryptoRng + ?Sized>(
        me: &Identity,
        target: NodeId,
        session: u8,
        network_id: &[u8; 32],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(Self, usize)> {
        let eph = ephemeral(rng)?;
        let mut offer = [0u8; E2E_LEN];
        e2e_message(
            false,
            me,
            session,
            target,
            &eph,
            network_id,
            &[],
            &mut offer,
        )?;
        out.get_mut(..E2E_LEN)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(&offer);
        Ok((
            Self {
                eph,
                offer,
                target,
                session,
            },
            E2E_LEN,
        ))
    }

    /// Destination side: verify an offer from `peer` (identity from its credential), write
    /// the accept into `out` and return the session.
    pub fn accept<R: TryCryptoRng + ?Sized>(
        suite: Suite,
        me: &Identity,
        peer: &PublicIdentity,
        network_id: &[u8; 32],
        offer: &[u8],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(E2eSession, usize)> {
        let Message::EndToEnd {
            accept: false,
            sender,
            session,
            target,
            ephemeral: peer_eph,
            signature,
        } = Message::parse(offer)?
        else {
            return Err(Error::UnexpectedMessage);
        };
        if sender != peer.node_id() {
            return Err(Error::IdMismatch);
        }
        if target != me.node_id() {
            return Err(Error::UnexpectedMessage);
        }
        let d = digest(
            b"e2e-offer",
            &[network_id, &[], &offer[..E2E_LEN - SIGNATURE_LEN]],
        );
        peer.verify(&d, &signature)?;
        let eph = ephemeral(rng)?;
        let mut acc = [0u8; E2E_LEN];
        e2e_message(true, me, session, sender, &eph, network_id, offer, &mut acc)?;
        let t = digest(b"e2e", &[network_id, offer, &acc]);
        let s = session_keys(
            suite,
            me,
            peer,
            session,
            network_id,
            Some((&eph, &peer_eph, &t)),
        )?;
        out.get_mut(..E2E_LEN)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(&acc);
        Ok((s, E2E_LEN))
    }

    /// Source side: verify the accept from the target and return the session.
    pub fn finish(
        self,
        suite: Suite,
        me: &Identity,
        peer: &PublicIdentity,
        network_id: &[u8; 32],
        accept: &[u8],
    ) -> Result<E2eSession> {
        let Message::EndToEnd {
            accept: true,
            sender,
            session,
            target,
            ephemeral: peer_eph,
            signature,
        } = Message::parse(accept)?
        else {
            return Err(Error::UnexpectedMessage);
        };
        if sender != peer.node_id() || sender != self.target {
            return Err(Error::IdMismatch);
        }
        if target != me.node_id() || session != self.session {
            return Err(Error::UnexpectedMessage);
        }
        let d = digest(
            b"e2e-accept",
            &[network_id, &self.offer, &accept[..E2E_LEN - SIGNATURE_LEN]],
        );
        peer.verify(&d, &signature)?;
        let t = digest(b"e2e", &[network_id, &self.offer, accept]);
        session_keys(
            suite,
            me,
            peer,
            session,
            network_id,
            Some((&self.eph, &peer_eph, &t)),
        )
    }
}

/// Seal an application payload into the inner envelope in place. `buf` is laid out as
/// header (5, filled here) ‖ payload ‖ tag (16, filled here). `source` is this node (the
/// envelope's nonce sender), `counter` from the node's [`crate::replay::FrameCounter`],
/// `aad` whatever end-to-end context the caller binds (e.g. the application id).
pub fn seal_envelope(
    key: &FrameKey,
    source: &NodeId,
    counter: u32,
    aad: &[u8],
    buf: &mut [u8],
) -> Result<()> {
    let end = buf
        .len()
        .checked_sub(TAG_LEN)
        .filter(|e| *e >= ENVELOPE_HEADER_LEN)
        .ok_or(Error::BufferTooSmall)?;
    buf[0] = key.id().0;
    buf[1..5].copy_from_slice(&counter.to_le_bytes());
    let (_, rest) = buf.split_at_mut(ENVELOPE_HEADER_LEN);
    let (body, tag) = rest.split_at_mut(end - ENVELOPE_HEADER_LEN);
    let t = seal(key, source, counter, aad, body)?;
    tag.copy_from_slice(&t);
    Ok(())
}

/// Open an inner envelope from `source` in place, checking `window` (one per source) first.
/// Returns the plaintext range within `buf`.
pub fn open_envelope(
    key: &FrameKey,
    source: &NodeId,
    aad: &[u8],
    buf: &mut [u8],
    window: &mut ReplayWindow,
) -> Result<Range<usize>> {
    let end = buf
        .len()
        .checked_sub(TAG_LEN)
        .filter(|e| *e >= ENVELOPE_HEADER_LEN)
        .ok_or(Error::Malformed)?;
    let id = KeyId(buf[0]);
    if id.class() != KeyClass::EndToEnd || id != key.id() {
        return Err(Error::UnknownKey);
    }
    let mut c = [0u8; 4];
    c.copy_from_slice(&buf[1..5]);
    let counter = u32::from_le_bytes(c);
    window.check(counter)?;
    let (_, rest) = buf.split_at_mut(ENVELOPE_HEADER_LEN);
    let (body, tag) = rest.split_at_mut(end - ENVELOPE_HEADER_LEN);
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(tag);
    open(key, source, counter, aad, body, &t)?;
    window.accept(counter)?;
    Ok(ENVELOPE_HEADER_LEN..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRng;

    extern crate std;
    const TAG: [u8; 32] = [3; 32];

    #[test]
    fn static_keys_agree_and_envelope_roundtrips() {
        let a = Identity::from_seed(&[1; 32]);
        let b = Identity::from_seed(&[2; 32]);
        let sa = E2eSession::new_static(Suite::default(), &a, b.public(), 0, &TAG).unwrap();
        let sb = E2eSession::new_static(Suite::default(), &b, a.public(), 0, &TAG).unwrap();
        let mut buf = std::vec![0u8; 5];
        buf.extend_from_slice(b"temperature=21.5");
        buf.extend_from_slice(&[0; 16]);
        seal_envelope(&sa.send, &a.node_id(), 9, b"app", &mut buf).unwrap();
        let mut w = ReplayWindow::new();
        let mut copy = buf.clone();
        let r = open_envelope(&sb.recv, &a.node_id(), b"app", &mut buf, &mut w).unwrap();
        assert_eq!(&buf[r], b"temperature=21.5");
        assert_eq!(
            open_envelope(&sb.recv, &a.node_id(), b"app", &mut copy, &mut w),
            Err(Error::Replay)
        );
        // Wrong direction key, wrong aad.
        let mut buf = std::vec![0u8; 5 + 3 + 16];
        seal_envelope(&sa.send, &a.node_id(), 10, b"app", &mut buf).unwrap();
        let mut c = buf.clone();
        assert_eq!(
            open_envelope(
                &sb.send,
                &a.node_id(),
                b"app",
                &mut c,
                &mut ReplayWindow::new()
            ),
            Err(Error::BadAuth)
        );
        assert_eq!(
            open_envelope(
                &sb.recv,
                &a.node_id(),
                b"xyz",
                &mut buf,
                &mut ReplayWindow::new()
            ),
            Err(Error::BadAuth)
        );
    }

    #[test]
    fn ephemeral_session() {
        let a = Identity::from_seed(&[1; 32]);
        let b = Identity::from_seed(&[2; 32]);
        let mut rng = TestRng(11);
        let mut offer = [0u8; E2E_LEN];
        let (pending, n) = E2eOffer::start(&a, b.node_id(), 3, &TAG, &mut rng, &mut offer).unwrap();
        assert_eq!(n, 114);
        let mut acc = [0u8; E2E_LEN];
        let (sb, _) = E2eOffer::accept(
            Suite::default(),
            &b,
            a.public(),
            &TAG,
            &offer,
            &mut rng,
            &mut acc,
        )
        .unwrap();
        let sa = pending
            .finish(Suite::default(), &a, b.public(), &TAG, &acc)
            .unwrap();
        let mut buf = [0u8; 5 + 4 + 16];
        buf[5..9].copy_from_slice(b"ping");
        seal_envelope(&sa.send, &a.node_id(), 1, &[], &mut buf).unwrap();
        let r = open_envelope(
            &sb.recv,
            &a.node_id(),
            &[],
            &mut buf,
            &mut ReplayWindow::new(),
        )
        .unwrap();
        assert_eq!(&buf[r], b"ping");
        // Differs from the static keys (forward secrecy input mixed in).
        let st = E2eSession::new_static(Suite::default(), &a, b.public(), 3, &TAG).unwrap();
        let mut buf2 = [0u8; 5 + 4 + 16];
        buf2[5..9].copy_from_slice(b"ping");
        seal_envelope(&st.send, &a.node_id(), 1, &[], &mut buf2).unwrap();
        assert_ne!(buf, buf2);

        // A forged offer (signed by someone else) is refused.
        let m = Identity::from_seed(&[9; 32]);
        let mut forged = [0u8; E2E_LEN];
        E2eOffer::start(&m, b.node_id(), 3, &TAG, &mut rng, &mut forged).unwrap();
        forged[..8].copy_from_slice(&a.node_id().0);
        assert!(
            E2eOffer::accept(
                Suite::default(),
                &b,
                a.public(),
                &TAG,
                &forged,
                &mut rng,
                &mut acc
            )
            .is_err()
        );
    }
}
