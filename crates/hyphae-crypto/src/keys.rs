//! Key ids, the labelled key derivation, frame keys, and the network-key ring that rotates
//! without downtime (`security.md` §3, §4, §10).

use core::fmt;

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::KeyInit;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroize;

use crate::error::{Error, Result};

#[cfg(feature = "aes-ccm")]
/// The AES-128-CCM instance hyphae uses: 16-byte tag, 12-byte nonce (the same nonce
/// construction as ChaCha20-Poly1305).
pub type Aes128Ccm = ccm::Ccm<aes::Aes128, ccm::consts::U16, ccm::consts::U12>;

/// HKDF-SHA256 with hyphae's labels: `info = "hyphae/v1/" ‖ label ‖ context`.
pub fn derive(ikm: &[u8], salt: &[u8], label: &[u8], context: &[&[u8]], out: &mut [u8]) {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut parts: [&[u8]; 8] = [&[]; 8];
    parts[0] = b"hyphae/v1/";
    parts[1] = label;
    let n = context.len().min(6);
    parts[2..2 + n].copy_from_slice(&context[..n]);
    // Output lengths are fixed by this crate (≤ 64 bytes), far below HKDF's 8160-byte limit.
    let _ = hk.expand_multi_info(&parts[..2 + n], out);
}

/// The class of key a key id names (bits 7..6 of the key id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyClass {
    /// `00`: the group frame key derived from network key generation `gen` (bits 5..0).
    Network,
    /// `01`: a pairwise link key; bits 5..0 are the link session number mod 64.
    Link,
    /// `10`: an end-to-end session key (inner envelope only); bits 5..0 the session number.
    EndToEnd,
    /// `11`: reserved; a receiver drops the frame as [`Error::UnknownKey`].
    Reserved,
}

/// A key id as carried in the security header (`frames.md` §2): class in bits 7..6, generation
/// or session number in bits 5..0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeyId(pub u8);

impl KeyId {
    /// The key id of network key generation `generation` (mod 64).
    pub const fn network(generation: u8) -> Self {
        Self(generation & 0x3F)
    }
    /// The key id of link session `session` (mod 64).
    pub const fn link(session: u8) -> Self {
        Self(0x40 | (session & 0x3F))
    }
    /// The key id of end-to-end session `session` (mod 64).
    pub const fn end_to_end(session: u8) -> Self {
        Self(0x80 | (session & 0x3F))
    }
    /// The class.
    pub const fn class(self) -> KeyClass {
        match self.0 >> 6 {
            0 => KeyClass::Network,
            1 => KeyClass::Link,
            2 => KeyClass::EndToEnd,
            _ => KeyClass::Reserved,
        }
    }
    /// Bits 5..0.
    pub const fn number(self) -> u8 {
        self.0 & 0x3F
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}#{}", self.class(), self.number())
    }
}

/// Which AEAD seals frames. The whole network uses one suite (a configuration item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Suite {
    /// ChaCha20-Poly1305 (RFC 8439), 256-bit key, 16-byte tag: the default (`BENCHMARKS.md`).
    #[default]
    ChaCha20Poly1305,
    /// AES-128-CCM, 16-byte tag, 12-byte nonce: for chips whose AES hardware makes it cheaper
    /// (feature `aes-ccm`).
    #[cfg(feature = "aes-ccm")]
    Aes128Ccm,
}

/// A frame key: suite, key id and 32 bytes of key material (AES-128-CCM uses the first 16).
/// 34 bytes, so a neighbour table can hold many; the cipher is instantiated per operation
/// (a 32-byte copy for ChaCha20-Poly1305, an AES key expansion for CCM — see
/// `BENCHMARKS.md`). Wiped on drop.
#[derive(Clone)]
pub struct FrameKey {
    pub(crate) id: KeyId,
    pub(crate) suite: Suite,
    material: [u8; 32],
}

impl Drop for FrameKey {
    fn drop(&mut self) {
        self.material.zeroize();
    }
}

// Transient, on the stack for one seal/open; never stored.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Cipher {
    ChaCha(ChaCha20Poly1305),
    #[cfg(feature = "aes-ccm")]
    Ccm(Aes128Ccm),
}

impl fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameKey({:?}, {:?})", self.id, self.suite)
    }
}

impl FrameKey {
    /// Build from 32 bytes of key material.
    pub fn new(suite: Suite, id: KeyId, material: &[u8; 32]) -> Self {
        Self {
            id,
            suite,
            material: *material,
        }
    }

    /// The key id this key is sent under.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    pub(crate) fn cipher(&self) -> Cipher {
        match self.suite {
            Suite::ChaCha20Poly1305 => Cipher::ChaCha(ChaCha20Poly1305::new(&self.material.into())),
            #[cfg(feature = "aes-ccm")]
            Suite::Aes128Ccm => {
                let mut k = [0u8; 16];
                k.copy_from_slice(&self.material[..16]);
                let c = Aes128Ccm::new(&k.into());
                k.zeroize();
                Cipher::Ccm(c)
            }
        }
    }
}

/// The 32-byte network key shared by every admitted node, and the keys derived from it.
#[derive(Clone)]
pub struct NetworkKey {
    key: [u8; 32],
    generation: u8,
}

impl Drop for NetworkKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkKey(gen {})", self.generation)
    }
}

impl NetworkKey {
    /// Wrap key material of generation `generation` (0..=63).
    pub fn new(key: [u8; 32], generation: u8) -> Self {
        Self {
            key,
            generation: generation & 0x3F,
        }
    }

    /// Generation (also the number of its key id).
    pub fn generation(&self) -> u8 {
        self.generation
    }

    /// The group frame key: seals broadcast frames (beacons, handshakes, gossip, tree
    /// claims) so that only admitted nodes can send or read them.
    pub fn frame_key(&self, suite: Suite) -> FrameKey {
        let mut k = [0u8; 32];
        derive(
            &self.key,
            b"",
            b"group-frame",
            &[&[self.generation]],
            &mut k,
        );
        let fk = FrameKey::new(suite, KeyId::network(self.generation), &k);
        k.zeroize();
        fk
    }
}

/// The network-key ring: the key nodes send with and, during a rotation, the other
/// generation they still accept (`security.md` §10).
#[derive(Debug, Clone)]
pub struct KeyRing {
    suite: Suite,
    current: FrameKey,
    other: Option<(FrameKey, u32)>,
}

impl KeyRing {
    /// A ring holding one key.
    pub fn new(suite: Suite, key: &NetworkKey) -> Self {
        Self {
            suite,
            current: key.frame_key(suite),
            other: None,
        }
    }

    /// The key to seal group frames with.
    pub fn sending(&self) -> &FrameKey {
        &self.current
    }

    /// The key for a received key id, if it is the sending generation or the other one still
    /// accepted at `now` (seconds).
    pub fn receiving(&self, id: KeyId, now: u32) -> Result<&FrameKey> {
        if id == self.current.id {
            return Ok(&self.current);
        }
        match &self.other {
            Some((k, until)) if k.id == id && now <= *until => Ok(k),
            _ => Err(Error::UnknownKey),
        }
    }

    /// Stage the next generation: accepted on receive from now until `until`, not yet used
    /// to send. Step 1 of a rotation (every node first learns the new key).
    pub fn stage(&mut self, next: &NetworkKey, until: u32) {
        self.other = Some((next.frame_key(self.suite), until));
    }

    /// Switch sending to the staged generation; the previous one stays accepted until
    /// `until`. Step 2 of a rotation. Returns false when nothing was staged.
    pub fn activate(&mut self, until: u32) -> bool {
        match self.other.take() {
            Some((k, _)) => {
                let old = core::mem::replace(&mut self.current, k);
                self.other = Some((old, until));
                true
            }
            None => false,
        }
    }

    /// Forget the other generation once its window has passed (step 3). Safe to call on
    /// every tick.
    pub fn expire(&mut self, now: u32) {
        if matches!(self.other, Some((_, until)) if now > until) {
            self.other = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_classes() {
        assert_eq!(KeyId::network(3).class(), KeyClass::Network);
        assert_eq!(KeyId::network(67), KeyId::network(3));
        assert_eq!(KeyId::link(5).0, 0x45);
        assert_eq!(KeyId::end_to_end(1).class(), KeyClass::EndToEnd);
        assert_eq!(KeyId(0xC0).class(), KeyClass::Reserved);
    }

    #[test]
    fn derivation_is_labelled() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        derive(b"k", b"", b"x", &[], &mut a);
        derive(b"k", b"", b"y", &[], &mut b);
        assert_ne!(a, b);
        derive(b"k", b"", b"x", &[b"1"], &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn rotation_window() {
        let g0 = NetworkKey::new([1; 32], 0);
        let g1 = NetworkKey::new([2; 32], 1);
        let mut ring = KeyRing::new(Suite::default(), &g0);
        assert!(ring.receiving(KeyId::network(1), 0).is_err());
        ring.stage(&g1, 100);
        assert_eq!(ring.sending().id(), KeyId::network(0));
        assert!(ring.receiving(KeyId::network(1), 50).is_ok());
        assert!(ring.activate(200));
        assert_eq!(ring.sending().id(), KeyId::network(1));
        assert!(ring.receiving(KeyId::network(0), 150).is_ok());
        ring.expire(150);
        assert!(ring.receiving(KeyId::network(0), 150).is_ok());
        ring.expire(201);
        assert_eq!(
            ring.receiving(KeyId::network(0), 201).unwrap_err(),
            Error::UnknownKey
        );
        assert!(ring.receiving(KeyId::network(1), 10_000).is_ok());
    }
}
