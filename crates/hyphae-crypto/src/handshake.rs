//! Handshake bodies (frame kind Handshake = 12) and the link key agreement between neighbours
//! (`security.md` §5).
//!
//! Three messages, SIGMA-style: both sides send an X25519 ephemeral key and their credential,
//! each signs the transcript with its Ed25519 identity, and the link keys derive from the
//! ephemeral-ephemeral and static-static Diffie-Hellman results with the transcript as salt.

use rand_core::TryCryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroize;

use crate::control::digest;
use crate::credential::{AdminKeys, CREDENTIAL_LEN, Credential};
use crate::error::{Error, Result};
use crate::identity::{Identity, NodeId, PublicIdentity, SIGNATURE_LEN, fill};
use crate::keys::{FrameKey, KeyId, Suite, derive};

/// Op codes of handshake bodies.
pub mod op {
    /// Link handshake message 1 (initiator → responder).
    pub const INIT: u8 = 1;
    /// Link handshake message 2 (responder → initiator).
    pub const RESPONSE: u8 = 2;
    /// Link handshake message 3 (initiator → responder).
    pub const CONFIRM: u8 = 3;
    /// End-to-end session offer (source → destination, routed).
    pub const E2E_OFFER: u8 = 4;
    /// End-to-end session accept (destination → source, routed).
    pub const E2E_ACCEPT: u8 = 5;
    /// Ask for a node's credential (any node that holds it may answer).
    pub const CREDENTIAL_REQUEST: u8 = 6;
    /// A credential (answer to a request, or unsolicited).
    pub const CREDENTIAL: u8 = 7;
}

/// Length of an Init body.
pub const INIT_LEN: usize = 10 + 32 + CREDENTIAL_LEN;
/// Length of a Response body.
pub const RESPONSE_LEN: usize = INIT_LEN + SIGNATURE_LEN;
/// Length of a Confirm body.
pub const CONFIRM_LEN: usize = 10 + SIGNATURE_LEN;
/// Length of an end-to-end offer or accept body.
pub const E2E_LEN: usize = 10 + 8 + 32 + SIGNATURE_LEN;
/// Length of a credential request body.
pub const CREDENTIAL_REQUEST_LEN: usize = 10 + 8;
/// Length of a credential body.
pub const CREDENTIAL_MSG_LEN: usize = 10 + CREDENTIAL_LEN;

/// A parsed handshake body. Every body begins with the sender's node id, op and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// Message 1.
    Init {
        /// Sender (initiator).
        sender: NodeId,
        /// Link session number (the link key id is `KeyId::link(session)`).
        session: u8,
        /// X25519 ephemeral public key.
        ephemeral: [u8; 32],
        /// Encoded credential (verified by the state machines, not by `parse`).
        credential: &'a [u8],
    },
    /// Message 2.
    Response {
        /// Sender (responder).
        sender: NodeId,
        /// Session, echoed.
        session: u8,
        /// X25519 ephemeral public key.
        ephemeral: [u8; 32],
        /// Encoded credential.
        credential: &'a [u8],
        /// Signature over the transcript.
        signature: [u8; SIGNATURE_LEN],
    },
    /// Message 3.
    Confirm {
        /// Sender (initiator).
        sender: NodeId,
        /// Session, echoed.
        session: u8,
        /// Signature over the transcript.
        signature: [u8; SIGNATURE_LEN],
    },
    /// End-to-end offer or accept (distinguished by `accept`).
    EndToEnd {
        /// True for op 5 (accept), false for op 4 (offer).
        accept: bool,
        /// Sender.
        sender: NodeId,
        /// End-to-end session number.
        session: u8,
        /// The node the message is for.
        target: NodeId,
        /// X25519 ephemeral public key.
        ephemeral: [u8; 32],
        /// Signature.
        signature: [u8; SIGNATURE_LEN],
    },
    /// Credential request (session byte 0).
    CredentialRequest {
        /// Sender.
        sender: NodeId,
        /// Whose credential is wanted.
        target: NodeId,
    },
    /// A credential, self-authenticating by its admin signature (session byte 0).
    Credential {
        /// Sender (not necessarily the credential's subject).
        sender: NodeId,
        /// Encoded credential.
        credential: &'a [u8],
    },
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

impl<'a> Message<'a> {
    /// Parse a Handshake body. Exact lengths; never panics.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        if body.len() < 10 {
            return Err(Error::Malformed);
        }
        let sender = NodeId(arr(&body[..8]));
        let session = body[9];
        if session > 0x3F {
            return Err(Error::BadValue);
        }
        let want = match body[8] {
            op::INIT => INIT_LEN,
            op::RESPONSE => RESPONSE_LEN,
            op::CONFIRM => CONFIRM_LEN,
            op::E2E_OFFER | op::E2E_ACCEPT => E2E_LEN,
            op::CREDENTIAL_REQUEST | op::CREDENTIAL if session != 0 => {
                return Err(Error::BadValue);
            }
            op::CREDENTIAL_REQUEST => CREDENTIAL_REQUEST_LEN,
            op::CREDENTIAL => CREDENTIAL_MSG_LEN,
            _ => return Err(Error::BadValue),
        };
        if body.len() != want {
            return Err(Error::Malformed);
        }
        let b = &body[10..];
        Ok(match body[8] {
            op::INIT => Self::Init {
                sender,
                session,
                ephemeral: arr(b),
                credential: &b[32..],
            },
            op::RESPONSE => Self::Response {
                sender,
                session,
                ephemeral: arr(b),
                credential: &b[32..32 + CREDENTIAL_LEN],
                signature: arr(&b[32 + CREDENTIAL_LEN..]),
            },
            op::CONFIRM => Self::Confirm {
                sender,
                session,
                signature: arr(b),
            },
            op::CREDENTIAL_REQUEST => Self::CredentialRequest {
                sender,
                target: NodeId(arr(b)),
            },
            op::CREDENTIAL => Self::Credential {
                sender,
                credential: b,
            },
            o => Self::EndToEnd {
                accept: o == op::E2E_ACCEPT,
                sender,
                session,
                target: NodeId(arr(b)),
                ephemeral: arr(&b[8..]),
                signature: arr(&b[40..]),
            },
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::Init { .. } => INIT_LEN,
            Self::Response { .. } => RESPONSE_LEN,
            Self::Confirm { .. } => CONFIRM_LEN,
            Self::EndToEnd { .. } => E2E_LEN,
            Self::CredentialRequest { .. } => CREDENTIAL_REQUEST_LEN,
            Self::Credential { .. } => CREDENTIAL_MSG_LEN,
        }
    }

    /// Emit into the front of `out`; returns the length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let o = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let (sender, opc, session) = match *self {
            Self::Init {
                sender, session, ..
            } => (sender, op::INIT, session),
            Self::Response {
                sender, session, ..
            } => (sender, op::RESPONSE, session),
            Self::Confirm {
                sender, session, ..
            } => (sender, op::CONFIRM, session),
            Self::EndToEnd {
                accept,
                sender,
                session,
                ..
            } => (
                sender,
                if accept {
                    op::E2E_ACCEPT
                } else {
                    op::E2E_OFFER
                },
                session,
            ),
            Self::CredentialRequest { sender, .. } => (sender, op::CREDENTIAL_REQUEST, 0),
            Self::Credential { sender, .. } => (sender, op::CREDENTIAL, 0),
        };
        if session > 0x3F {
            return Err(Error::BadValue);
        }
        o[..8].copy_from_slice(&sender.0);
        o[8] = opc;
        o[9] = session;
        let b = &mut o[10..];
        match self {
            Self::Init {
                ephemeral,
                credential,
                ..
            } => {
                b[..32].copy_from_slice(ephemeral);
                b[32..].copy_from_slice(credential.get(..CREDENTIAL_LEN).ok_or(Error::Malformed)?);
            }
            Self::Response {
                ephemeral,
                credential,
                signature,
                ..
            } => {
                b[..32].copy_from_slice(ephemeral);
                b[32..32 + CREDENTIAL_LEN]
                    .copy_from_slice(credential.get(..CREDENTIAL_LEN).ok_or(Error::Malformed)?);
                b[32 + CREDENTIAL_LEN..].copy_from_slice(signature);
            }
            Self::Confirm { signature, .. } => b.copy_from_slice(signature),
            Self::EndToEnd {
                target,
                ephemeral,
                signature,
                ..
            } => {
                b[..8].copy_from_slice(&target.0);
                b[8..40].copy_from_slice(ephemeral);
                b[40..].copy_from_slice(signature);
            }
            Self::CredentialRequest { target, .. } => b.copy_from_slice(&target.0),
            Self::Credential { credential, .. } => {
                b.copy_from_slice(credential.get(..CREDENTIAL_LEN).ok_or(Error::Malformed)?);
            }
        }
        Ok(len)
    }
}

/// The outcome of a link handshake: the peer's verified credential and the two directional
/// frame keys, both under key id `KeyId::link(session)`.
#[derive(Debug, Clone)]
pub struct LinkSession {
    /// The peer's verified credential (identity, roles, expiry).
    pub peer: Credential,
    /// Key to seal frames sent to the peer.
    pub send: FrameKey,
    /// Key to open frames received from the peer.
    pub recv: FrameKey,
}

pub(crate) fn ephemeral<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<StaticSecret> {
    let mut seed = [0u8; 32];
    fill(rng, &mut seed)?;
    let s = StaticSecret::from(seed);
    seed.zeroize();
    Ok(s)
}

pub(crate) fn dh(secret: &StaticSecret, public: &[u8; 32]) -> Result<[u8; 32]> {
    let shared = secret.diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(Error::BadValue);
    }
    Ok(*shared.as_bytes())
}

#[allow(clippy::too_many_arguments)] // a private helper; grouping would only rename the list
fn link_keys(
    suite: Suite,
    eph: &StaticSecret,
    peer_eph: &[u8; 32],
    me: &Identity,
    peer: &PublicIdentity,
    transcript: &[u8; 32],
    initiator: &NodeId,
    responder: &NodeId,
    session: u8,
    i_am_initiator: bool,
) -> Result<(FrameKey, FrameKey)> {
    let mut ikm = [0u8; 64];
    ikm[..32].copy_from_slice(&dh(eph, peer_eph)?);
    ikm[32..].copy_from_slice(&dh(&me.x25519(), peer.x25519().as_bytes())?);
    let mut okm = [0u8; 64];
    derive(
        &ikm,
        transcript,
        b"link",
        &[&initiator.0, &responder.0, &[session]],
        &mut okm,
    );
    ikm.zeroize();
    let id = KeyId::link(session);
    let i2r = FrameKey::new(suite, id, &arr(&okm[..32]));
    let r2i = FrameKey::new(suite, id, &arr(&okm[32..]));
    okm.zeroize();
    Ok(if i_am_initiator {
        (i2r, r2i)
    } else {
        (r2i, i2r)
    })
}

fn transcript(network_id: &[u8; 32], init: &[u8], response_unsigned: &[u8]) -> [u8; 32] {
    digest(b"hs", &[network_id, init, response_unsigned])
}

/// Shared context of a node taking part in handshakes.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a, const N: usize> {
    /// This node's identity.
    pub identity: &'a Identity,
    /// This node's own credential.
    pub credential: &'a Credential,
    /// Trusted admin keys.
    pub admins: &'a AdminKeys<N>,
    /// The network id ([`crate::control::network_id`]).
    pub network_id: &'a [u8; 32],
    /// Network time in seconds, if known.
    pub now: Option<u32>,
    /// The AEAD suite.
    pub suite: Suite,
}

fn peer_credential<const N: usize>(
    ctx: &Context<'_, N>,
    sender: &NodeId,
    bytes: &[u8],
) -> Result<Credential> {
    let c = Credential::verify(bytes, ctx.admins, ctx.network_id, ctx.now)?;
    if c.node_id() != *sender {
        return Err(Error::IdMismatch);
    }
    if c.node_id() == ctx.identity.node_id() {
        // A reflected message.
        return Err(Error::UnexpectedMessage);
    }
    Ok(c)
}

/// Initiator state between messages 1 and 2.
pub struct Initiator {
    eph: StaticSecret,
    init: [u8; INIT_LEN],
    session: u8,
}

impl core::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Initiator(session {})", self.session)
    }
}

impl Initiator {
    /// Start a handshake for link session `session` (0..=63): writes message 1 into `out`.
    pub fn start<R: TryCryptoRng + ?Sized, const N: usize>(
        ctx: &Context<'_, N>,
        session: u8,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(Self, usize)> {
        let eph = ephemeral(rng)?;
        let mut cred = [0u8; CREDENTIAL_LEN];
        ctx.credential.emit(&mut cred)?;
        let msg = Message::Init {
            sender: ctx.identity.node_id(),
            session,
            ephemeral: PublicKey::from(&eph).to_bytes(),
            credential: &cred,
        };
        let mut init = [0u8; INIT_LEN];
        msg.emit(&mut init)?;
        let n = msg.emit(out)?;
        Ok((Self { eph, init, session }, n))
    }

    /// Process message 2; on success writes message 3 into `out` and returns the session.
    pub fn finish<const N: usize>(
        self,
        ctx: &Context<'_, N>,
        response: &[u8],
        out: &mut [u8],
    ) -> Result<(LinkSession, usize)> {
        let Message::Response {
            sender,
            session,
            ephemeral,
            credential,
            signature,
        } = Message::parse(response)?
        else {
            return Err(Error::UnexpectedMessage);
        };
        if session != self.session {
            return Err(Error::UnexpectedMessage);
        }
        let peer = peer_credential(ctx, &sender, credential)?;
        let th = transcript(ctx.network_id, &self.init, &response[..INIT_LEN]);
        peer.node.verify(&digest(b"hs-resp", &[&th]), &signature)?;
        let me = ctx.identity.node_id();
        let (send, recv) = link_keys(
            ctx.suite,
            &self.eph,
            &ephemeral,
            ctx.identity,
            &peer.node,
            &th,
            &me,
            &sender,
            session,
            true,
        )?;
        let n = Message::Confirm {
            sender: me,
            session,
            signature: ctx.identity.sign(&digest(b"hs-confirm", &[&th])),
        }
        .emit(out)?;
        Ok((LinkSession { peer, send, recv }, n))
    }
}

/// Responder state between messages 2 and 3 (keys ready but not yet usable).
pub struct Responder {
    pending: LinkSession,
    transcript: [u8; 32],
    session: u8,
}

impl core::fmt::Debug for Responder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Responder({} session {})",
            self.pending.peer.node_id(),
            self.session
        )
    }
}

impl Responder {
    /// Process message 1; on success writes message 2 into `out`.
    pub fn respond<R: TryCryptoRng + ?Sized, const N: usize>(
        ctx: &Context<'_, N>,
        init: &[u8],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(Self, usize)> {
        let Message::Init {
            sender,
            session,
            ephemeral: peer_eph,
            credential,
        } = Message::parse(init)?
        else {
            return Err(Error::UnexpectedMessage);
        };
        let peer = peer_credential(ctx, &sender, credential)?;
        let eph = ephemeral(rng)?;
        let me = ctx.identity.node_id();
        let mut cred = [0u8; CREDENTIAL_LEN];
        ctx.credential.emit(&mut cred)?;
        let mut msg = Message::Response {
            sender: me,
            session,
            ephemeral: PublicKey::from(&eph).to_bytes(),
            credential: &cred,
            signature: [0; SIGNATURE_LEN],
        };
        let mut unsigned = [0u8; RESPONSE_LEN];
        msg.emit(&mut unsigned)?;
        let th = transcript(ctx.network_id, init, &unsigned[..INIT_LEN]);
        let (send, recv) = link_keys(
            ctx.suite,
            &eph,
            &peer_eph,
            ctx.identity,
            &peer.node,
            &th,
            &sender,
            &me,
            session,
            false,
        )?;
        if let Message::Response { signature, .. } = &mut msg {
            *signature = ctx.identity.sign(&digest(b"hs-resp", &[&th]));
        }
        let n = msg.emit(out)?;
        Ok((
            Self {
                pending: LinkSession { peer, send, recv },
                transcript: th,
                session,
            },
            n,
        ))
    }

    /// The node this handshake is with (not yet authenticated as the key holder).
    pub fn peer(&self) -> NodeId {
        self.pending.peer.node_id()
    }

    /// Process message 3: the initiator proved it holds its identity key.
    pub fn finish(self, confirm: &[u8]) -> Result<LinkSession> {
        let Message::Confirm {
            sender,
            session,
            signature,
        } = Message::parse(confirm)?
        else {
            return Err(Error::UnexpectedMessage);
        };
        if sender != self.pending.peer.node_id() || session != self.session {
            return Err(Error::UnexpectedMessage);
        }
        self.pending
            .peer
            .node
            .verify(&digest(b"hs-confirm", &[&self.transcript]), &signature)?;
        Ok(self.pending)
    }
}

#[cfg(test)]
mod tests;
