//! Frame security in the node: every frame sealed on the way out, every frame opened and
//! checked on the way in, before anything trusts it (`docs/spec/security.md` §6–§8, and §15
//! for what the core does today).
//!
//! A node is **secure by default**: without a [`Security`] context installed
//! ([`crate::Node::set_security`]) it sends nothing and drops every frame, unless its
//! configuration says [`crate::Config::insecure`] (lab use, and tests of the transport alone).
//!
//! With a context, the node
//! - seals every frame it sends (its own and the ones it forwards: protection is hop by hop,
//!   since forwarders rewrite the routing header, which the tag covers) with the link key of the
//!   neighbour it goes to when they share a link session, otherwise (broadcasts, one-hop
//!   handshakes, neighbours without a session) with the network key's sending generation, and
//!   the node's frame counter, which never repeats — across restarts too: the node asks the
//!   shell to reserve counters ahead ([`crate::Event::CounterReserve`]: store the value durably,
//!   then call [`crate::Node::counter_persisted`]) and never seals with a counter the shell has
//!   not confirmed; after a reboot the shell boots the counter from the stored value
//!   ([`boot_counter`]), so at most one reservation is skipped;
//! - opens every received frame with the key its key id names: a frame that does not
//!   authenticate (outsider, tampered, truncated, wrong network) is dropped as
//!   [`crate::DropReason::Unauthenticated`], one whose counter its sender already used as
//!   [`crate::DropReason::Replayed`], one under a key it does not hold as
//!   [`crate::DropReason::UnknownKey`]; beacons and one-hop handshakes (authenticated, not
//!   encrypted) name their sender in the clear, every other frame is attributed to the neighbour
//!   its link address belongs to, so a frame from an unknown address is dropped before any
//!   cryptography; a unicast frame under the network key from a neighbour with a link session
//!   is dropped as [`crate::DropReason::LinkKeyRequired`];
//! - runs the X25519 link handshake with its neighbours (`node/link.rs`) and seals every
//!   unicast payload end to end for its destination (`node/e2e.rs`), with the bounded tables of
//!   [`crate::session`];
//! - keeps one replay window per neighbour it hears for group-keyed frames (up to [`SENDERS`],
//!   least recently heard replaced), one per link session and one per end-to-end session.
//!
//! Not yet driven by the core: signed tree claims and service announcements (`security.md`
//! §9). `hyphae-crypto` implements them.

use hyphae_crypto::{CounterStore, FrameCounter, NodeSecurity, ReplayWindow};
use hyphae_wire::NodeId;

use crate::time::Instant;

pub use hyphae_crypto;

/// Admin keys a node can trust.
pub const MAX_ADMINS: usize = 4;
/// Neighbours whose replay windows are kept.
pub const SENDERS: usize = 32;
/// Counters reserved per write to the counter store (the node asks for the next reservation
/// when half of the current one is used).
pub const COUNTER_STEP: u64 = 1024;

/// Why [`Security::new`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityError {
    /// The credential does not verify against the admins and network, or is not this node's.
    Credential(hyphae_crypto::Error),
}

impl core::fmt::Display for SecurityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Credential(e) => write!(f, "credential refused: {e}"),
        }
    }
}

impl core::error::Error for SecurityError {}

/// The node's security context: its identity, credential, network key ring and frame counter
/// (`hyphae_crypto::NodeSecurity`), plus the replay windows of the neighbours it hears.
#[derive(Debug)]
pub struct Security {
    pub(crate) inner: NodeSecurity<MAX_ADMINS>,
    pub(crate) windows: heapless::Vec<(NodeId, ReplayWindow, Instant), SENDERS>,
    /// Counters below this are durably reserved: the node may seal with them.
    pub(crate) persisted: u64,
    /// Link and end-to-end sessions (`crate::session`).
    pub(crate) sessions: crate::session::Sessions,
    /// The reservation last asked of the shell.
    pub(crate) requested: u64,
    /// The next counter (mirrors the inner `FrameCounter`).
    pub(crate) next: u64,
    /// A reservation to announce as an event.
    pub(crate) ask: Option<u64>,
}

impl Security {
    /// A context from a verified [`NodeSecurity`] (identity, credential, admins, network id
    /// and key: see `hyphae_crypto::NodeSecurity::new`) whose counter was booted with
    /// [`boot_counter`] from the stored value `stored` (0 on a fresh store).
    ///
    /// Ephemeral keys come from an RNG seeded with the node's (deterministic) signature over
    /// its counter reservation, unique per boot; shells with a real entropy source should add
    /// it with [`Security::with_entropy`], which gives the link and end-to-end keys forward
    /// secrecy against a later theft of the identity key.
    pub fn new(inner: NodeSecurity<MAX_ADMINS>, stored: u64) -> Self {
        let seed = inner.identity().sign(&hyphae_crypto::control::digest(
            b"drbg",
            &[&stored.to_le_bytes()],
        ));
        let rng = crate::session::Drbg::new(&seed, &inner.node_id().0);
        Self {
            sessions: crate::session::Sessions::new(rng),
            inner,
            windows: heapless::Vec::new(),
            persisted: stored,
            requested: stored,
            next: stored,
            ask: None,
        }
    }

    /// Mix `entropy` (from a hardware or OS RNG, at least 32 bytes) into the RNG the node draws
    /// its X25519 ephemeral keys and session numbers from.
    #[must_use]
    pub fn with_entropy(mut self, entropy: &[u8]) -> Self {
        self.sessions.rng.reseed(entropy);
        self
    }

    /// Ask for the next reservation when half of the current one is used.
    pub(crate) fn plan_reservation(&mut self) {
        if self.next + COUNTER_STEP / 2 >= self.requested {
            self.requested = self.requested.max(self.next) + COUNTER_STEP;
            self.ask = Some(self.requested);
        }
    }

    /// The node id of the identity (the node must be created with this id).
    pub fn node_id(&self) -> NodeId {
        NodeId(self.inner.node_id().0)
    }

    /// The underlying `hyphae-crypto` state (key rotation, management commands).
    pub fn inner_mut(&mut self) -> &mut NodeSecurity<MAX_ADMINS> {
        &mut self.inner
    }

    /// The replay window of `sender`, created when first heard (replacing the least recently
    /// heard one when the table is full).
    pub(crate) fn window(&mut self, sender: NodeId, now: Instant) -> &mut ReplayWindow {
        let i = match self.windows.iter().position(|w| w.0 == sender) {
            Some(i) => i,
            None => {
                if self.windows.is_full()
                    && let Some(old) = self
                        .windows
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, w)| w.2)
                        .map(|(i, _)| i)
                {
                    self.windows.swap_remove(old);
                }
                // Cannot fail: there is room now.
                let _ = self.windows.push((sender, ReplayWindow::new(), now));
                self.windows.len() - 1
            }
        };
        self.windows[i].2 = now;
        &mut self.windows[i].1
    }
}

/// The counter store the node seals with: a counter may be used only below the durable
/// reservation (the inner counter reserves one at a time).
pub(crate) struct Reserve(pub(crate) u64);

impl CounterStore for Reserve {
    fn load(&mut self) -> hyphae_crypto::Result<Option<u64>> {
        Ok(Some(self.0))
    }
    fn store(&mut self, reserved: u64) -> hyphae_crypto::Result<()> {
        if reserved <= self.0 {
            Ok(())
        } else {
            Err(hyphae_crypto::Error::Storage)
        }
    }
}

/// Boot the node's frame counter from the shell's store: it starts at the stored reservation
/// (pass the same value to [`Security::new`]).
pub fn boot_counter<S: CounterStore + ?Sized>(
    store: &mut S,
) -> hyphae_crypto::Result<(FrameCounter, u64)> {
    let stored = store.load()?.unwrap_or(0);
    Ok((FrameCounter::resume(store, 1)?, stored))
}

/// One network's provisioning in one place: an admin identity, the network name and key. It
/// issues every node's credential and builds its [`Security`] — for tests, the simulator and
/// the demo, where one process plays the admin. Real deployments use `hyphae security` (the
/// admin's tool) and load the same pieces from files.
#[derive(Debug)]
pub struct Provisioner {
    admin: hyphae_crypto::Identity,
    network_id: [u8; 32],
    key: hyphae_crypto::NetworkKey,
}

impl Provisioner {
    /// A network named `name` with key `key` (generation 0), administered by the identity of
    /// `admin_seed`.
    pub fn new(admin_seed: &[u8; 32], name: &[u8], key: [u8; 32]) -> Self {
        Self {
            admin: hyphae_crypto::Identity::from_seed(admin_seed),
            network_id: hyphae_crypto::control::network_id(name),
            key: hyphae_crypto::NetworkKey::new(key, 0),
        }
    }

    /// The node whose identity is the seed `seed`: its node id and security context (a fresh
    /// counter; a credential with every role, without expiry).
    pub fn node(&self, seed: &[u8; 32]) -> Result<(NodeId, Security), SecurityError> {
        self.node_resumed(seed, None)
    }

    /// [`Provisioner::node`] after a restart: the counter resumes from the reservation the
    /// node's shell stored last (`None`: a fresh store).
    pub fn node_resumed(
        &self,
        seed: &[u8; 32],
        stored: Option<u64>,
    ) -> Result<(NodeId, Security), SecurityError> {
        let roles = hyphae_crypto::roles::ROUTER
            | hyphae_crypto::roles::GATEWAY
            | hyphae_crypto::roles::ROOT;
        self.node_with_roles(seed, stored, roles)
    }

    /// [`Provisioner::node_resumed`] with a credential granting exactly `roles`
    /// (`hyphae_crypto::roles`; without `ROOT` the node never becomes a tree root).
    pub fn node_with_roles(
        &self,
        seed: &[u8; 32],
        stored: Option<u64>,
        roles: u8,
    ) -> Result<(NodeId, Security), SecurityError> {
        let identity = hyphae_crypto::Identity::from_seed(seed);
        let id = NodeId(identity.node_id().0);
        let credential = hyphae_crypto::Credential::issue(
            &self.admin,
            0,
            &self.network_id,
            identity.public(),
            roles,
            u32::MAX,
        );
        let mut cred = [0u8; 128];
        let n = credential
            .emit(&mut cred)
            .map_err(SecurityError::Credential)?;
        let mut admins = hyphae_crypto::AdminKeys::<MAX_ADMINS>::new();
        admins.set(0, *self.admin.public());
        let mut store = hyphae_crypto::MemoryCounterStore::new();
        if let Some(s) = stored {
            CounterStore::store(&mut store, s).map_err(SecurityError::Credential)?;
        }
        let (counter, stored) = boot_counter(&mut store).map_err(SecurityError::Credential)?;
        let inner = NodeSecurity::new(
            identity,
            counter,
            &cred[..n],
            admins,
            self.network_id,
            &self.key,
            hyphae_crypto::Suite::default(),
            None,
        )
        .map_err(SecurityError::Credential)?;
        Ok((id, Security::new(inner, stored)))
    }
}
