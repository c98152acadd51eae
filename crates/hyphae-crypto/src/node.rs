//! `NodeSecurity`: one node's security state and the rules of `security.md` §6 in one place —
//! which key seals which frame, protection by kind, the shared counter, key selection on receive.
//! The core keeps one of these per node and, per neighbour, an optional
//! [`LinkSession`] and a [`ReplayWindow`].

use core::ops::Range;

use crate::control::CommandHeader;
use crate::control::CommandVerifier;
use crate::credential::{AdminKeys, Credential};
use crate::error::{Error, Result};
use crate::frame::{Protection, SecurityHeader, open_frame, seal_frame};
use crate::handshake::{Context, LinkSession};
use crate::identity::{Identity, NodeId};
use crate::keys::{KeyClass, KeyRing, NetworkKey, Suite};
use crate::replay::{CounterStore, FrameCounter, ReplayWindow};

/// Kind of a frame: bits 4..0 of byte 0 (`frames.md` §1.1).
fn kind(frame: &[u8]) -> Result<u8> {
    frame.first().map(|b| b & 0x1F).ok_or(Error::Malformed)
}

/// One node's security state.
#[derive(Debug)]
pub struct NodeSecurity<const A: usize> {
    identity: Identity,
    credential: Credential,
    network_id: [u8; 32],
    suite: Suite,
    ring: KeyRing,
    counter: FrameCounter,
    commands: CommandVerifier<A>,
}

impl<const A: usize> NodeSecurity<A> {
    /// Assemble from the booted identity and counter ([`crate::replay::boot`]), the node's own
    /// credential (checked against `admins` and the identity), the network id and key.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        identity: Identity,
        counter: FrameCounter,
        credential: &[u8],
        admins: AdminKeys<A>,
        network_id: [u8; 32],
        network_key: &NetworkKey,
        suite: Suite,
        now: Option<u32>,
    ) -> Result<Self> {
        let credential = Credential::verify(credential, &admins, &network_id, now)?;
        if credential.node_id() != identity.node_id() {
            return Err(Error::IdMismatch);
        }
        Ok(Self {
            identity,
            credential,
            network_id,
            suite,
            ring: KeyRing::new(suite, network_key),
            counter,
            commands: CommandVerifier::new(admins),
        })
    }

    /// This node's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }

    /// This node's credential.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The network id.
    pub fn network_id(&self) -> &[u8; 32] {
        &self.network_id
    }

    /// The admin keys credentials and commands are checked against.
    pub fn admins(&self) -> &AdminKeys<A> {
        self.commands.admins()
    }

    /// The network-key ring (stage / activate / expire for rotations, `security.md` §10).
    pub fn ring_mut(&mut self) -> &mut KeyRing {
        &mut self.ring
    }

    /// The handshake context for [`crate::handshake::Initiator`] / [`crate::handshake::Responder`].
    pub fn handshake(&self, now: Option<u32>) -> Context<'_, A> {
        Context {
            identity: &self.identity,
            credential: &self.credential,
            admins: self.commands.admins(),
            network_id: &self.network_id,
            now,
            suite: self.suite,
        }
    }

    /// Seal a broadcast / one-hop group frame (Beacon, Handshake ops 1–3/6/7, Tree claim, Gossip,
    /// Service) in place with the sending generation of the network key.
    pub fn seal_group<S: CounterStore + ?Sized>(
        &mut self,
        store: &mut S,
        frame: &mut [u8],
        body_offset: usize,
    ) -> Result<()> {
        let p = Protection::for_kind(kind(frame)?);
        let c = self.counter.next(store)?;
        seal_frame(
            self.ring.sending(),
            &self.identity.node_id(),
            c,
            frame,
            body_offset,
            p,
        )
    }

    /// Seal a unicast frame to the neighbour of `session` in place.
    pub fn seal_link<S: CounterStore + ?Sized>(
        &mut self,
        store: &mut S,
        session: &LinkSession,
        frame: &mut [u8],
        body_offset: usize,
    ) -> Result<()> {
        let p = Protection::for_kind(kind(frame)?);
        let c = self.counter.next(store)?;
        seal_frame(
            &session.send,
            &self.identity.node_id(),
            c,
            frame,
            body_offset,
            p,
        )
    }

    /// A fresh counter for an end-to-end envelope ([`crate::e2e::seal_envelope`]).
    pub fn next_counter<S: CounterStore + ?Sized>(&mut self, store: &mut S) -> Result<u32> {
        self.counter.next(store)
    }

    /// Open a received secure frame in place. `sender` is determined per `security.md` §6.2,
    /// `session` is the link session with that neighbour if any, `window` the neighbour's replay
    /// window, `now` the time the key ring's rotation windows are expressed in. Returns the
    /// plaintext body range.
    pub fn open(
        &self,
        now: u32,
        sender: &NodeId,
        session: Option<&LinkSession>,
        window: &mut ReplayWindow,
        frame: &mut [u8],
        body_offset: usize,
    ) -> Result<Range<usize>> {
        let sh = SecurityHeader::parse(frame)?;
        let p = Protection::for_kind(kind(frame)?);
        let key = match sh.key_id.class() {
            KeyClass::Network => self.ring.receiving(sh.key_id, now)?,
            KeyClass::Link => match session {
                Some(s) if s.recv.id() == sh.key_id && s.peer.node_id() == *sender => &s.recv,
                _ => return Err(Error::UnknownKey),
            },
            KeyClass::EndToEnd | KeyClass::Reserved => return Err(Error::UnknownKey),
        };
        open_frame(key, sender, frame, body_offset, p, window)
    }

    /// Verify a management command addressed to this node (`security.md` §11). Persist
    /// [`NodeSecurity::command_sequences`] after each success.
    pub fn verify_command<'a>(
        &mut self,
        command: &'a [u8],
        now: Option<u32>,
    ) -> Result<(CommandHeader, &'a [u8])> {
        let me = self.identity.node_id();
        self.commands.verify(&me, &self.network_id, command, now)
    }

    /// Highest accepted management sequence per admin, to persist.
    pub fn command_sequences(&self) -> [u64; A] {
        self.commands.sequences()
    }

    /// Restore persisted management sequences at boot.
    pub fn restore_command_sequences(&mut self, last: [u64; A]) {
        self.commands.restore(last);
    }
}
