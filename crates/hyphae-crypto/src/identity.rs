//! Node identities: an Ed25519 key pair, the node id derived from its public key, and where the
//! secret lives (`security.md` §2).

use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::TryCryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of the secret seed a key store keeps.
pub const SECRET_LEN: usize = 32;

/// Fill `buf` from the caller's RNG (the crate never owns one).
pub(crate) fn fill<R: TryCryptoRng + ?Sized>(rng: &mut R, buf: &mut [u8]) -> Result<()> {
    rng.try_fill_bytes(buf).map_err(|_| Error::Rng)
}

/// A node id: the first 8 bytes of SHA-256 over the node's Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 8]);

/// A short id: the first 4 bytes of the node id (the routing layer's compact address).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ShortId(pub [u8; 4]);

impl NodeId {
    /// Derive the node id of `public_key`.
    pub fn from_public_key(public_key: &[u8; PUBLIC_KEY_LEN]) -> Self {
        let h = Sha256::digest(public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&h[..8]);
        Self(id)
    }

    /// The first 4 bytes.
    pub fn short(&self) -> ShortId {
        ShortId([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A node's public identity: its Ed25519 public key and the node id derived from it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicIdentity {
    key: VerifyingKey,
    id: NodeId,
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicIdentity({})", self.id)
    }
}

impl PublicIdentity {
    /// Parse a public key. Rejects encodings that are not a curve point
    /// ([`Error::BadValue`]) and weak (small-order) keys.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| Error::BadValue)?;
        if key.is_weak() {
            return Err(Error::BadValue);
        }
        Ok(Self {
            key,
            id: NodeId::from_public_key(bytes),
        })
    }

    /// The public key bytes.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.key.to_bytes()
    }

    /// The node id.
    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// The X25519 public key birationally equivalent to this Ed25519 key (for static DH).
    pub fn x25519(&self) -> x25519_dalek::PublicKey {
        x25519_dalek::PublicKey::from(self.key.to_montgomery().to_bytes())
    }

    /// Verify a signature over `digest` with the strict rules (no malleable or small-order
    /// signatures).
    pub fn verify(&self, digest: &[u8; 32], signature: &[u8; SIGNATURE_LEN]) -> Result<()> {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.key
            .verify_strict(digest, &sig)
            .map_err(|_| Error::BadAuth)
    }
}

/// A node's secret identity. Wipes its secret on drop.
pub struct Identity {
    secret: SigningKey,
    public: PublicIdentity,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.public.id)
    }
}

impl Identity {
    /// Rebuild from a 32-byte secret seed (what a [`KeyStore`] keeps).
    pub fn from_seed(seed: &[u8; SECRET_LEN]) -> Self {
        let secret = SigningKey::from_bytes(seed);
        let pk = secret.verifying_key().to_bytes();
        Self {
            public: PublicIdentity {
                key: secret.verifying_key(),
                id: NodeId::from_public_key(&pk),
            },
            secret,
        }
    }

    /// Generate a fresh identity from the caller's RNG.
    pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self> {
        let mut seed = [0u8; SECRET_LEN];
        fill(rng, &mut seed)?;
        let id = Self::from_seed(&seed);
        seed.zeroize();
        Ok(id)
    }

    /// The secret seed, for a [`KeyStore`].
    pub fn seed(&self) -> [u8; SECRET_LEN] {
        self.secret.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> &PublicIdentity {
        &self.public
    }

    /// Shorthand for `public().node_id()`.
    pub fn node_id(&self) -> NodeId {
        self.public.id
    }

    /// Sign a 32-byte digest (every signed structure in hyphae is hashed with a domain label
    /// first, see [`crate::control::digest`]).
    pub fn sign(&self, digest: &[u8; 32]) -> [u8; SIGNATURE_LEN] {
        self.secret.sign(digest).to_bytes()
    }

    /// The static X25519 secret birationally equivalent to the Ed25519 key.
    pub(crate) fn x25519(&self) -> x25519_dalek::StaticSecret {
        x25519_dalek::StaticSecret::from(self.secret.to_scalar_bytes())
    }
}

/// Where a node keeps its identity seed: a file on hosts, a flash sector on MCUs.
pub trait KeyStore {
    /// The stored seed, or `None` when the store is empty (first boot or after an erase).
    fn load(&mut self) -> Result<Option<[u8; SECRET_LEN]>>;
    /// Replace the stored seed.
    fn store(&mut self, seed: &[u8; SECRET_LEN]) -> Result<()>;
}

/// Load the identity from `store`, or generate and store a new one when it is empty.
/// Returns the identity and `true` when it was newly created (it then needs a credential).
pub fn load_or_create<S: KeyStore + ?Sized, R: TryCryptoRng + ?Sized>(
    store: &mut S,
    rng: &mut R,
) -> Result<(Identity, bool)> {
    if let Some(mut seed) = store.load()? {
        let id = Identity::from_seed(&seed);
        seed.zeroize();
        return Ok((id, false));
    }
    let id = Identity::generate(rng)?;
    let mut seed = id.seed();
    let r = store.store(&seed);
    seed.zeroize();
    r?;
    Ok((id, true))
}

/// A key store in RAM (tests, the simulator, MCUs that keep the seed elsewhere).
#[derive(Default)]
pub struct MemoryKeyStore {
    seed: Option<[u8; SECRET_LEN]>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub const fn new() -> Self {
        Self { seed: None }
    }
}

impl Drop for MemoryKeyStore {
    fn drop(&mut self) {
        if let Some(s) = self.seed.as_mut() {
            s.zeroize();
        }
    }
}

impl KeyStore for MemoryKeyStore {
    fn load(&mut self) -> Result<Option<[u8; SECRET_LEN]>> {
        Ok(self.seed)
    }
    fn store(&mut self, seed: &[u8; SECRET_LEN]) -> Result<()> {
        self.seed = Some(*seed);
        Ok(())
    }
}

#[cfg(feature = "std")]
pub use file::FileKeyStore;

#[cfg(feature = "std")]
mod file {
    extern crate std;
    use std::fs;
    use std::io::Write;
    use std::path::PathBuf;

    use super::{KeyStore, SECRET_LEN};
    use crate::error::{Error, Result};

    /// A key store in one file holding the 32-byte seed, created with mode 0600 on Unix and
    /// replaced atomically (write to a temporary file, then rename).
    #[derive(Debug, Clone)]
    pub struct FileKeyStore {
        path: PathBuf,
    }

    impl FileKeyStore {
        /// A store at `path` (the file need not exist yet).
        pub fn new(path: impl Into<PathBuf>) -> Self {
            Self { path: path.into() }
        }
    }

    impl KeyStore for FileKeyStore {
        fn load(&mut self) -> Result<Option<[u8; SECRET_LEN]>> {
            match fs::read(&self.path) {
                Ok(b) => {
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        let mode = fs::metadata(&self.path)
                            .map_err(|_| Error::Storage)?
                            .permissions()
                            .mode();
                        // A secret readable by group or others is refused, like ssh does.
                        if mode & 0o077 != 0 {
                            return Err(Error::Storage);
                        }
                    }
                    let seed: [u8; SECRET_LEN] =
                        b.as_slice().try_into().map_err(|_| Error::Storage)?;
                    Ok(Some(seed))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(_) => Err(Error::Storage),
            }
        }

        fn store(&mut self, seed: &[u8; SECRET_LEN]) -> Result<()> {
            let tmp = self.path.with_extension("tmp");
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(|_| Error::Storage)?;
            f.write_all(seed).map_err(|_| Error::Storage)?;
            f.sync_all().map_err(|_| Error::Storage)?;
            fs::rename(&tmp, &self.path).map_err(|_| Error::Storage)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestRng;

    #[test]
    fn node_id_is_sha256_prefix() {
        let id = Identity::from_seed(&[7; 32]);
        let pk = id.public().to_bytes();
        let h = Sha256::digest(pk);
        assert_eq!(id.node_id().0, h[..8]);
        assert_eq!(id.node_id().short().0, h[..4]);
    }

    #[test]
    fn x25519_conversion_agrees() {
        let a = Identity::from_seed(&[1; 32]);
        let b = Identity::from_seed(&[2; 32]);
        let ab = a.x25519().diffie_hellman(&b.public().x25519());
        let ba = b.x25519().diffie_hellman(&a.public().x25519());
        assert_eq!(ab.as_bytes(), ba.as_bytes());
        assert_eq!(
            x25519_dalek::PublicKey::from(&a.x25519()).as_bytes(),
            a.public().x25519().as_bytes()
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let id = Identity::from_seed(&[3; 32]);
        let d = [9u8; 32];
        let mut s = id.sign(&d);
        id.public().verify(&d, &s).unwrap();
        s[5] ^= 1;
        assert_eq!(id.public().verify(&d, &s), Err(Error::BadAuth));
    }

    #[test]
    fn weak_public_key_rejected() {
        // The identity point (small order).
        let mut p = [0u8; 32];
        p[0] = 1;
        assert_eq!(PublicIdentity::from_bytes(&p), Err(Error::BadValue));
    }

    #[test]
    fn memory_store_roundtrip() {
        let mut s = MemoryKeyStore::new();
        let mut rng = TestRng(1);
        let (a, new) = load_or_create(&mut s, &mut rng).unwrap();
        assert!(new);
        let (b, new) = load_or_create(&mut s, &mut rng).unwrap();
        assert!(!new);
        assert_eq!(a.node_id(), b.node_id());
    }

    #[cfg(feature = "std")]
    #[test]
    fn file_store_permissions() {
        extern crate std;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let mut s = FileKeyStore::new(&path);
        let mut rng = TestRng(2);
        let (a, new) = load_or_create(&mut s, &mut rng).unwrap();
        assert!(new);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(s.load(), Err(Error::Storage));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let (b, new) = load_or_create(&mut FileKeyStore::new(&path), &mut rng).unwrap();
        assert!(!new);
        assert_eq!(a.node_id(), b.node_id());
    }
}
