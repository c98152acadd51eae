//! `[security]`: the host node's identity, credential and network key, loaded from files and
//! the configuration. Secure by default: a configuration without this section is refused
//! unless it says `insecure = true` (lab use, printed as a warning at start).
//!
//! ```toml
//! [security]
//! key = "node.key"            # Ed25519 seed (`hyphae security keygen --key node.key`), mode 0600;
//!                             # its frame counter lives next to it in node.counter
//! network = "my mesh"         # network name (the network id derives from it)
//! network_key = "<64 hex>"    # `hyphae security network-key`
//! generation = 0              # network key generation
//! credential = "<206 hex>"    # `hyphae security issue …` for this node's public key
//! admins = ["<64 hex>"]       # admin public keys, by index
//! ```

use std::path::PathBuf;

use hyphae_core::security::{MAX_ADMINS, Security};
use hyphae_crypto::{
    AdminKeys, CounterStore, FileCounterStore, FileKeyStore, NetworkKey, NodeSecurity,
    PublicIdentity, Suite,
};
use serde::Deserialize;

/// `[security]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySection {
    /// Run without frame security (lab use only; every frame is sent and accepted in clear).
    pub insecure: bool,
    /// The identity's seed file (the counter file is the same path with extension `counter`).
    pub key: Option<PathBuf>,
    /// Network name.
    pub network: String,
    /// Network key, 64 hex digits.
    pub network_key: Option<String>,
    /// Network key generation (0..=63).
    pub generation: u8,
    /// This node's membership credential, hex.
    pub credential: Option<String>,
    /// Admin public keys, 64 hex digits each, by index.
    pub admins: Vec<String>,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl SecuritySection {
    /// Check the section; `Err((field, reason))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let e = |f: &str, r: &str| Err((format!("security.{f}"), r.to_owned()));
        if self.insecure {
            return Ok(());
        }
        let hint = "required (or `insecure = true` in [security] for lab use)";
        if self.key.is_none() {
            return e("key", hint);
        }
        if self.network.is_empty() {
            return e("network", hint);
        }
        match &self.network_key {
            None => return e("network_key", hint),
            Some(k) if unhex(k).is_none_or(|b| b.len() != 32) => {
                return e("network_key", "expected 64 hex digits");
            }
            _ => {}
        }
        if self.generation > 63 {
            return e("generation", "must be within 0..=63");
        }
        match &self.credential {
            None => return e("credential", hint),
            Some(c) if unhex(c).is_none() => return e("credential", "not hex"),
            _ => {}
        }
        if self.admins.is_empty() {
            return e("admins", hint);
        }
        if self.admins.len() > MAX_ADMINS {
            return e("admins", &format!("at most {MAX_ADMINS}"));
        }
        for (i, a) in self.admins.iter().enumerate() {
            if unhex(a).is_none_or(|b| b.len() != 32) {
                return Err((
                    format!("security.admins[{i}]"),
                    "expected 64 hex digits".into(),
                ));
            }
        }
        Ok(())
    }

    /// Load the identity and counter and verify the credential: the node's security context
    /// and the counter store the shell persists reservations into. `Ok(None)` when insecure.
    pub fn load(
        &self,
    ) -> Result<Option<(Security, FileCounterStore, crate::mgmt::SequenceFile)>, String> {
        if self.insecure {
            return Ok(None);
        }
        self.validate().map_err(|(f, r)| format!("{f}: {r}"))?;
        let key = self.key.clone().unwrap_or_default();
        let mut keys = FileKeyStore::new(&key);
        let mut counters = FileCounterStore::new(key.with_extension("counter"));
        let mut rng = OsRng::open().map_err(|e| format!("/dev/urandom: {e}"))?;
        let had_counter = counters
            .load()
            .map_err(|e| format!("{}: {e}", key.display()))?
            .is_some();
        let (identity, counter, state) =
            hyphae_crypto::replay::boot(&mut keys, &mut counters, &mut rng, 1)
                .map_err(|e| format!("{}: {e}", key.display()))?;
        let stored = counters
            .load()
            .map_err(|e| format!("{}: {e}", key.display()))?
            .unwrap_or(0);
        let public = hex(&identity.public().to_bytes());
        if state == hyphae_crypto::replay::BootState::NewIdentity || !had_counter {
            return Err(format!(
                "{}: created a new identity (public key {public}); an admin must issue its \
                 credential (`hyphae security issue --public-key {public} --network … --admin-key …`) into \
                 security.credential",
                key.display()
            ));
        }
        let mut admins = AdminKeys::<MAX_ADMINS>::new();
        for (i, a) in self.admins.iter().enumerate() {
            let b: [u8; 32] = unhex(a)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("security.admins[{i}]: expected 64 hex digits"))?;
            let p =
                PublicIdentity::from_bytes(&b).map_err(|e| format!("security.admins[{i}]: {e}"))?;
            admins.set(i as u8, p);
        }
        let nk: [u8; 32] = self
            .network_key
            .as_deref()
            .and_then(unhex)
            .and_then(|b| b.try_into().ok())
            .ok_or("security.network_key: expected 64 hex digits")?;
        let cred = self
            .credential
            .as_deref()
            .and_then(unhex)
            .ok_or("security.credential: not hex")?;
        let network_id = hyphae_crypto::control::network_id(self.network.as_bytes());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| u32::try_from(d.as_secs()).ok());
        let inner = NodeSecurity::new(
            identity,
            counter,
            &cred,
            admins,
            network_id,
            &NetworkKey::new(nk, self.generation),
            Suite::default(),
            now,
        )
        .map_err(|e| {
            format!(
                "security.credential: {e} (it must be issued for public key {public} on network \
                 {:?} by one of security.admins)",
                self.network
            )
        })?;
        let mut inner = inner;
        let seqs = crate::mgmt::SequenceFile(key.with_extension("commands"));
        inner.restore_command_sequences(seqs.load());
        // Fresh entropy for the X25519 ephemerals of link and end-to-end sessions.
        let mut entropy = [0u8; 32];
        rand_core::TryRng::try_fill_bytes(&mut rng, &mut entropy)
            .map_err(|e| format!("/dev/urandom: {e}"))?;
        let security = Security::new(inner, stored).with_entropy(&entropy);
        Ok(Some((security, counters, seqs)))
    }
}

/// The operating system's RNG (for a first identity).
pub(crate) struct OsRng(std::fs::File);

impl OsRng {
    fn open() -> std::io::Result<Self> {
        std::fs::File::open("/dev/urandom").map(Self)
    }
}

impl rand_core::TryRng for OsRng {
    type Error = std::io::Error;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        std::io::Read::read_exact(&mut self.0, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        std::io::Read::read_exact(&mut self.0, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        std::io::Read::read_exact(&mut self.0, dst)
    }
}

impl rand_core::TryCryptoRng for OsRng {}
