//! How the node firmware boots its security (`docs/spec/security.md` §16): identity and counter
//! from the key storage, then the provisioning record. With a valid record for this identity
//! the node runs secure; otherwise it is **unprovisioned** and must not join the mesh (the
//! firmware logs why and waits; lab mode is a separate cargo feature).

use core::fmt;

use hyphae_core::security::Security;
use hyphae_core::security::hyphae_crypto::{self, replay::BootState};
use hyphae_core::{Node, NodeId};

use crate::provision::Record;
use crate::storage::{Flash, Nvs, ProvisionError};

/// A node ready to run secure.
pub struct Secure {
    /// The security context to install (`Node::set_security`).
    pub security: Security,
    /// The node id (the node must be created with it).
    pub node_id: NodeId,
    /// The node's Ed25519 public key (what the admin issues the credential for).
    pub public: [u8; 32],
    /// Whether the identity was resumed or created now.
    pub state: BootState,
    /// The provisioning record in use.
    pub record: Record,
}

/// Why the node cannot run secure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unprovisioned {
    /// The key storage failed: the node has no usable identity (or counter).
    Storage(hyphae_crypto::Error),
    /// No valid provisioning record.
    NoRecord {
        /// The node id.
        node_id: NodeId,
        /// The public key to issue a credential for.
        public: [u8; 32],
        /// Why the record is missing or refused.
        reason: ProvisionError,
    },
    /// The record is there but does not admit this identity: its credential is for another key
    /// (the node was re-flashed and has a new identity), does not verify against the admins and
    /// network, has expired, or an admin key is invalid.
    Refused {
        /// The node id.
        node_id: NodeId,
        /// The public key to issue a credential for.
        public: [u8; 32],
        /// What the check said.
        reason: hyphae_crypto::Error,
    },
}

impl fmt::Display for Unprovisioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Storage(e) => write!(f, "key storage unusable: {e}"),
            Self::NoRecord { reason, .. } => write!(f, "no provisioning record: {reason}"),
            Self::Refused { reason, .. } => write!(
                f,
                "provisioning record refused: {reason} (a re-flashed node has a new identity and \
                 needs a new credential)"
            ),
        }
    }
}

/// Boot identity and counter from `nvs` (creating an identity from `random` on first boot),
/// then read and check the provisioning record. `now` is the network time if known.
pub fn start<F: Flash>(
    nvs: &mut Nvs<F>,
    random: impl FnMut(&mut [u8]),
    now: Option<u32>,
) -> Result<Secure, Unprovisioned> {
    let booted = nvs.boot(random).map_err(Unprovisioned::Storage)?;
    let node_id = NodeId(booted.identity.node_id().0);
    let public = booted.identity.public().to_bytes();
    let record = nvs.provision().map_err(|reason| Unprovisioned::NoRecord {
        node_id,
        public,
        reason,
    })?;
    let security = record
        .security(booted.identity, booted.counter, booted.stored, now)
        .map_err(|reason| Unprovisioned::Refused {
            node_id,
            public,
            reason,
        })?;
    Ok(Secure {
        security,
        node_id,
        public,
        state: booted.state,
        record,
    })
}

/// Answer the node's `Event::CounterReserve(reserved)`: store the reservation in the journal,
/// then tell the node it may use it. On a storage error the node is not told, so it never seals
/// beyond the last stored reservation.
pub fn persist_reservation<
    F: Flash,
    const P: usize,
    const T: usize,
    const IN: usize,
    const OUT: usize,
    const M: usize,
>(
    nvs: &mut Nvs<F>,
    node: &mut Node<P, T, IN, OUT, M>,
    reserved: u64,
) -> hyphae_crypto::Result<()> {
    hyphae_crypto::CounterStore::store(nvs, reserved)?;
    node.counter_persisted(reserved);
    Ok(())
}

/// Bytes as lowercase hex, for logs an admin copies from (`hyphae security issue
/// --public-key …`).
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision;
    use crate::storage::{MemFlash, REGION_LEN};
    use hyphae_core::{Config, Event, Instant, LinkInfo, LinkKind, SimNode};

    type Mem = MemFlash<{ REGION_LEN as usize }>;

    fn rng(mut n: u8) -> impl FnMut(&mut [u8]) {
        move |b: &mut [u8]| {
            for x in b {
                n = n.wrapping_mul(13).wrapping_add(7);
                *x = n;
            }
        }
    }

    fn reservations(node: &mut SimNode) -> Vec<u64> {
        let mut r = Vec::new();
        while let Some(ev) = node.poll_event() {
            if let Event::CounterReserve(v) = ev {
                r.push(v);
            }
        }
        r
    }

    #[test]
    fn unprovisioned_until_a_record_for_this_identity() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        let Err(Unprovisioned::NoRecord {
            node_id, public, ..
        }) = start(&mut nvs, rng(1), None)
        else {
            panic!("secure without a record");
        };
        // The admin issues the credential for the key the node printed.
        let seed = {
            let mut r = [0u8; crate::identity::RECORD_LEN];
            nvs.flash_mut().read(0, &mut r).unwrap();
            crate::identity::Record::decode(&r).unwrap().seed
        };
        let rec = provision::tests::record_for(&seed);
        nvs.store_provision(&rec).unwrap();
        let s = start(&mut nvs, |_| panic!("identity must resume"), None)
            .ok()
            .unwrap();
        assert_eq!(s.node_id, node_id);
        assert_eq!(s.public, public);
        assert_eq!(s.state, BootState::Resumed);
        assert_eq!(s.record.network(), b"lab");
        assert!(format!("{}", Hex(&s.public)).len() == 64);
    }

    #[test]
    fn reflashed_node_needs_a_new_credential() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        let _ = start(&mut nvs, rng(1), None);
        let rec = provision::tests::record_for(&[9; 32]); // someone else's credential
        nvs.store_provision(&rec).unwrap();
        match start(&mut nvs, rng(2), None) {
            Err(e @ Unprovisioned::Refused { reason, .. }) => {
                assert_eq!(reason, hyphae_crypto::Error::IdMismatch);
                assert!(e.to_string().contains("new credential"));
            }
            _ => panic!("a credential for another identity was accepted"),
        }
    }

    #[test]
    fn reservations_survive_a_reboot() {
        let mut nvs = Nvs::new(Mem::new()).unwrap();
        let _ = start(&mut nvs, rng(1), None);
        let mut r = [0u8; crate::identity::RECORD_LEN];
        nvs.flash_mut().read(0, &mut r).unwrap();
        let seed = crate::identity::Record::decode(&r).unwrap().seed;
        nvs.store_provision(&provision::tests::record_for(&seed))
            .unwrap();

        let s = start(&mut nvs, rng(2), None).ok().unwrap();
        let mut node = SimNode::new(Config::default(), s.node_id, 1);
        node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
            .unwrap();
        node.set_security(s.security).unwrap();
        let asked = reservations(&mut node);
        assert_eq!(asked, vec![1024]);
        persist_reservation(&mut nvs, &mut node, 1024).unwrap();
        // Send frames until the node asks for the next reservation.
        let mut buf = [0u8; 250];
        let mut t = Instant::from_micros(0);
        let mut next = Vec::new();
        let mut sent = 0;
        for _ in 0..100_000 {
            t = t + core::time::Duration::from_millis(100);
            node.handle_timeout(t);
            while node.poll_transmit(t, &mut buf).is_some() {
                sent += 1;
            }
            next = reservations(&mut node);
            if !next.is_empty() {
                break;
            }
        }
        assert_eq!(
            next,
            vec![2048],
            "no second reservation after {sent} frames"
        );
        assert!(sent >= 512, "asked after {sent} frames");
        persist_reservation(&mut nvs, &mut node, 2048).unwrap();

        // Reboot: the counter resumes at the stored reservation, beyond every counter used.
        let s = start(&mut nvs, rng(3), None).ok().unwrap();
        assert_eq!(s.state, BootState::Resumed);
        let mut node = SimNode::new(Config::default(), s.node_id, 2);
        node.set_security(s.security).unwrap();
        assert_eq!(reservations(&mut node), vec![2048 + 1024]);
    }
}
