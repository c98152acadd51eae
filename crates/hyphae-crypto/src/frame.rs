//! Frame protection: the AEAD nonce, `seal`/`open` over a detached tag, and helpers that
//! work on a whole frame laid out as `frames.md` §1–2 says (`security.md` §6).

use chacha20poly1305::aead::AeadInOut;

use crate::error::{Error, Result};
use crate::identity::NodeId;
use crate::keys::{Cipher, FrameKey, KeyId};
use crate::replay::ReplayWindow;

/// Bytes of the common header before the security header.
pub const COMMON_HEADER_LEN: usize = 2;
/// Length of the security header: key id (u8) + frame counter (u32 LE).
pub const SECURITY_HEADER_LEN: usize = 5;
/// Length of the authentication tag at the end of a secure frame.
pub const TAG_LEN: usize = 16;
/// Bytes security adds to a frame.
pub const OVERHEAD: usize = SECURITY_HEADER_LEN + TAG_LEN;
/// The S flag: bit 7 of byte 1.
pub const SECURE_FLAG: u8 = 0x80;
/// Length of the AEAD nonce.
pub const NONCE_LEN: usize = 12;

/// The 12-byte nonce: the first 7 bytes of the sender's node id (beginning with its short
/// id), the key id, then the frame counter (u32 little-endian).
pub fn nonce(sender: &NodeId, key: KeyId, counter: u32) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..7].copy_from_slice(&sender.0[..7]);
    n[7] = key.0;
    n[8..].copy_from_slice(&counter.to_le_bytes());
    n
}

/// Encrypt `body` in place under `key`, authenticating `aad` too; returns the tag.
/// `sender` and `counter` must never repeat under one key (see [`crate::replay::FrameCounter`]).
pub fn seal(
    key: &FrameKey,
    sender: &NodeId,
    counter: u32,
    aad: &[u8],
    body: &mut [u8],
) -> Result<[u8; TAG_LEN]> {
    let n = nonce(sender, key.id, counter);
    let tag = match &key.cipher() {
        Cipher::ChaCha(c) => c.encrypt_inout_detached(&n.into(), aad, body.into()),
        #[cfg(feature = "aes-ccm")]
        Cipher::Ccm(c) => c.encrypt_inout_detached(&n.into(), aad, body.into()),
    }
    .map_err(|_| Error::BufferTooSmall)?;
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&tag);
    Ok(out)
}

/// Verify and decrypt `body` in place. On failure [`Error::BadAuth`] is returned and the
/// body's content is unspecified (drop the frame).
pub fn open(
    key: &FrameKey,
    sender: &NodeId,
    counter: u32,
    aad: &[u8],
    body: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<()> {
    let n = nonce(sender, key.id, counter);
    match &key.cipher() {
        Cipher::ChaCha(c) => c.decrypt_inout_detached(&n.into(), aad, body.into(), tag.into()),
        #[cfg(feature = "aes-ccm")]
        Cipher::Ccm(c) => c.decrypt_inout_detached(&n.into(), aad, body.into(), tag.into()),
    }
    .map_err(|_| Error::BadAuth)
}

/// Whether a frame's body is encrypted or only authenticated (`security.md` §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protection {
    /// Body encrypted; header, security header and routing header authenticated.
    Encrypt,
    /// Everything authenticated, nothing encrypted: Beacon and Handshake, whose bodies begin
    /// with the sender's node id that the receiver needs to build the nonce.
    AuthenticateOnly,
}

impl Protection {
    /// The rule for a frame kind (the `kind` field of `frames.md` §1.2): Beacon (7) and
    /// Handshake (12) are authenticate-only, every other kind is encrypted.
    pub const fn for_kind(kind: u8) -> Self {
        match kind {
            7 | 12 => Self::AuthenticateOnly,
            _ => Self::Encrypt,
        }
    }
}

/// The sender a Beacon (7) or Handshake (12) frame names: the first 8 body bytes
/// (`security.md` §6.2). Read before opening — these kinds are authenticate-only, so the body is
/// clear; the claim is proven by the open that follows. [`Error::Malformed`] for other kinds or
/// a body shorter than 8 bytes.
pub fn claimed_sender(frame: &[u8], body_offset: usize) -> Result<NodeId> {
    let kind = frame.first().map(|b| b & 0x1F).ok_or(Error::Malformed)?;
    if Protection::for_kind(kind) != Protection::AuthenticateOnly {
        return Err(Error::Malformed);
    }
    let end = frame.len().checked_sub(TAG_LEN).ok_or(Error::Malformed)?;
    let id = frame
        .get(body_offset..end)
        .and_then(|b| b.get(..8))
        .ok_or(Error::Malformed)?;
    let mut n = [0u8; 8];
    n.copy_from_slice(id);
    Ok(NodeId(n))
}

/// The security header of a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityHeader {
    /// Key id.
    pub key_id: KeyId,
    /// Frame counter.
    pub counter: u32,
}

impl SecurityHeader {
    /// Read the security header of a whole frame. [`Error::Malformed`] when the S flag is
    /// clear or the frame cannot hold the header and tag.
    pub fn parse(frame: &[u8]) -> Result<Self> {
        if frame.len() < COMMON_HEADER_LEN + OVERHEAD {
            return Err(Error::Malformed);
        }
        if frame[1] & SECURE_FLAG == 0 {
            return Err(Error::Malformed);
        }
        let mut c = [0u8; 4];
        c.copy_from_slice(&frame[3..7]);
        Ok(Self {
            key_id: KeyId(frame[2]),
            counter: u32::from_le_bytes(c),
        })
    }
}

fn split(frame: &mut [u8], body_offset: usize, p: Protection) -> Result<(usize, usize)> {
    let end = frame.len().checked_sub(TAG_LEN).ok_or(Error::Malformed)?;
    if body_offset < COMMON_HEADER_LEN + SECURITY_HEADER_LEN || body_offset > end {
        return Err(Error::Malformed);
    }
    Ok(match p {
        Protection::Encrypt => (body_offset, end),
        Protection::AuthenticateOnly => (end, end),
    })
}

/// Seal a whole frame in place. `frame` is the emitted frame including the 16-byte tag slot
/// at its end (what `hyphae_wire::FrameRepr::emit` produces); `body_offset` is where the body
/// starts. Sets the S flag, writes key id and counter into the security header, encrypts the
/// body (unless authenticate-only) and writes the tag.
pub fn seal_frame(
    key: &FrameKey,
    sender: &NodeId,
    counter: u32,
    frame: &mut [u8],
    body_offset: usize,
    protection: Protection,
) -> Result<()> {
    let (aad_end, end) = split(frame, body_offset, protection)?;
    frame[1] |= SECURE_FLAG;
    frame[2] = key.id.0;
    frame[3..7].copy_from_slice(&counter.to_le_bytes());
    let (head, rest) = frame.split_at_mut(aad_end);
    let (body, tag) = rest.split_at_mut(end - aad_end);
    let t = seal(key, sender, counter, head, body)?;
    tag.copy_from_slice(&t);
    Ok(())
}

/// Open a whole received frame in place: check the counter against `window`, verify and
/// decrypt, then record the counter. Returns the plaintext body range. The caller picked
/// `key` from the frame's key id ([`SecurityHeader::parse`]) and `sender` from the rules of
/// `security.md` §6.2; a mismatching key id is [`Error::UnknownKey`].
pub fn open_frame(
    key: &FrameKey,
    sender: &NodeId,
    frame: &mut [u8],
    body_offset: usize,
    protection: Protection,
    window: &mut ReplayWindow,
) -> Result<core::ops::Range<usize>> {
    let sh = SecurityHeader::parse(frame)?;
    if sh.key_id != key.id {
        return Err(Error::UnknownKey);
    }
    let (aad_end, end) = split(frame, body_offset, protection)?;
    window.check(sh.counter)?;
    let (head, rest) = frame.split_at_mut(aad_end);
    let (body, tag) = rest.split_at_mut(end - aad_end);
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(tag);
    open(key, sender, sh.counter, head, body, &t)?;
    window.accept(sh.counter)?;
    Ok(body_offset..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Suite;
    use proptest::prelude::*;

    const SENDER: NodeId = NodeId([1, 2, 3, 4, 5, 6, 7, 8]);

    fn key(suite: Suite) -> FrameKey {
        FrameKey::new(suite, KeyId::link(1), &[0x42; 32])
    }

    /// A secure one-hop Single frame: header, security header, body, tag slot.
    fn frame(body: &[u8]) -> std::vec::Vec<u8> {
        let mut f = std::vec![0x41, 0x00, 0, 0, 0, 0, 0];
        f.extend_from_slice(body);
        f.extend_from_slice(&[0; TAG_LEN]);
        f
    }

    extern crate std;

    #[test]
    fn nonce_layout() {
        let n = nonce(&SENDER, KeyId(0x45), 0x0A0B_0C0D);
        assert_eq!(n, [1, 2, 3, 4, 5, 6, 7, 0x45, 0x0D, 0x0C, 0x0B, 0x0A]);
    }

    #[test]
    fn overhead_is_21() {
        assert_eq!(OVERHEAD, 21);
        let f = frame(&[0; 10]);
        assert_eq!(f.len(), 2 + 10 + 21);
    }

    #[test]
    fn rfc8439_vector() {
        // RFC 8439 §2.8.2 AEAD test vector, through our seal with a crafted nonce.
        let k: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
        let fk = FrameKey::new(Suite::ChaCha20Poly1305, KeyId(0x43), &k);
        // nonce 07000000 40414243 44454647 = id[..7] ‖ key id ‖ counter LE
        let sender = NodeId([0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0]);
        let counter = u32::from_le_bytes([0x44, 0x45, 0x46, 0x47]);
        let aad = [
            0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
        ];
        let mut msg = *b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let tag = seal(&fk, &sender, counter, &aad, &mut msg).unwrap();
        assert_eq!(
            tag,
            [
                0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a, 0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60,
                0x06, 0x91
            ]
        );
        assert_eq!(&msg[..4], &[0xd3, 0x1a, 0x8d, 0x34]);
    }

    #[test]
    fn frame_roundtrip_both_suites() {
        for suite in [Suite::ChaCha20Poly1305, Suite::Aes128Ccm] {
            let k = key(suite);
            let mut f = frame(b"hello mesh");
            seal_frame(&k, &SENDER, 7, &mut f, 7, Protection::Encrypt).unwrap();
            assert_eq!(f[1] & SECURE_FLAG, SECURE_FLAG);
            assert_eq!(f[2], 0x41);
            assert_ne!(&f[7..17], b"hello mesh");
            let mut w = ReplayWindow::new();
            let r = open_frame(&k, &SENDER, &mut f, 7, Protection::Encrypt, &mut w).unwrap();
            assert_eq!(&f[r], b"hello mesh");
        }
    }

    #[test]
    fn authenticate_only_leaves_body_clear() {
        let k = key(Suite::default());
        let mut f = frame(b"beacon body");
        seal_frame(&k, &SENDER, 1, &mut f, 7, Protection::AuthenticateOnly).unwrap();
        assert_eq!(&f[7..18], b"beacon body");
        let mut g = f.clone();
        g[9] ^= 1;
        let mut w = ReplayWindow::new();
        assert_eq!(
            open_frame(&k, &SENDER, &mut g, 7, Protection::AuthenticateOnly, &mut w),
            Err(Error::BadAuth)
        );
        open_frame(&k, &SENDER, &mut f, 7, Protection::AuthenticateOnly, &mut w).unwrap();
    }

    #[test]
    fn claimed_sender_of_beacons() {
        let k = key(Suite::default());
        let mut f = std::vec![0x47u8, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&SENDER.0);
        f.extend_from_slice(&[1, 2, 3]);
        f.extend_from_slice(&[0; TAG_LEN]);
        seal_frame(&k, &SENDER, 9, &mut f, 7, Protection::AuthenticateOnly).unwrap();
        let who = claimed_sender(&f, 7).unwrap();
        assert_eq!(who, SENDER);
        open_frame(
            &k,
            &who,
            &mut f,
            7,
            Protection::for_kind(7),
            &mut ReplayWindow::new(),
        )
        .unwrap();
        // A Single frame does not name its sender; short bodies are malformed.
        assert_eq!(claimed_sender(&frame(&[0; 20]), 7), Err(Error::Malformed));
        let mut g = std::vec![0x47u8, 0x80, 0, 0, 0, 0, 0, 1, 2];
        g.extend_from_slice(&[0; TAG_LEN]);
        assert_eq!(claimed_sender(&g, 7), Err(Error::Malformed));
    }

    #[test]
    fn adversarial() {
        let k = key(Suite::default());
        let mut sealed = frame(b"payload");
        seal_frame(&k, &SENDER, 5, &mut sealed, 7, Protection::Encrypt).unwrap();

        // Outsider: right layout, wrong key material.
        let outsider = FrameKey::new(Suite::default(), KeyId::link(1), &[0x43; 32]);
        let mut f = frame(b"payload");
        seal_frame(&outsider, &SENDER, 6, &mut f, 7, Protection::Encrypt).unwrap();
        let mut w = ReplayWindow::new();
        assert_eq!(
            open_frame(&k, &SENDER, &mut f, 7, Protection::Encrypt, &mut w),
            Err(Error::BadAuth)
        );
        // A failed open does not advance the window.
        let mut f = sealed.clone();
        open_frame(&k, &SENDER, &mut f, 7, Protection::Encrypt, &mut w).unwrap();
        // Replay.
        let mut f = sealed.clone();
        assert_eq!(
            open_frame(&k, &SENDER, &mut f, 7, Protection::Encrypt, &mut w),
            Err(Error::Replay)
        );
        // Wrong key id in the header.
        let mut f = sealed.clone();
        f[2] = 0x42;
        assert_eq!(
            open_frame(
                &k,
                &SENDER,
                &mut f,
                7,
                Protection::Encrypt,
                &mut ReplayWindow::new()
            ),
            Err(Error::UnknownKey)
        );
        // Wrong sender (spoofed identity): nonce differs.
        let mut f = sealed.clone();
        let other = NodeId([9; 8]);
        assert_eq!(
            open_frame(
                &k,
                &other,
                &mut f,
                7,
                Protection::Encrypt,
                &mut ReplayWindow::new()
            ),
            Err(Error::BadAuth)
        );
        // Counter rewritten.
        let mut f = sealed.clone();
        f[3] ^= 1;
        assert_eq!(
            open_frame(
                &k,
                &SENDER,
                &mut f,
                7,
                Protection::Encrypt,
                &mut ReplayWindow::new()
            ),
            Err(Error::BadAuth)
        );
        // S flag cleared / truncated frames.
        let mut f = sealed.clone();
        f[1] &= !SECURE_FLAG;
        assert_eq!(
            open_frame(
                &k,
                &SENDER,
                &mut f,
                7,
                Protection::Encrypt,
                &mut ReplayWindow::new()
            ),
            Err(Error::Malformed)
        );
        let mut short = [0x41u8, 0x80, 0x41, 0, 0, 0];
        assert_eq!(
            open_frame(
                &k,
                &SENDER,
                &mut short,
                7,
                Protection::Encrypt,
                &mut ReplayWindow::new()
            ),
            Err(Error::Malformed)
        );
        // Body offset beyond the tag.
        let mut f = sealed.clone();
        let len = f.len();
        assert_eq!(
            open_frame(
                &k,
                &SENDER,
                &mut f,
                len,
                Protection::Encrypt,
                &mut ReplayWindow::new()
            ),
            Err(Error::Malformed)
        );
    }

    fn suites() -> impl Strategy<Value = Suite> {
        prop_oneof![Just(Suite::ChaCha20Poly1305), Just(Suite::Aes128Ccm)]
    }

    proptest! {
        #[test]
        fn seal_open_roundtrip(
            suite in suites(),
            body in proptest::collection::vec(any::<u8>(), 0..240),
            routing in proptest::collection::vec(any::<u8>(), 0..20),
            counter in any::<u32>(),
            sender in any::<[u8; 8]>(),
        ) {
            let k = key(suite);
            let sender = NodeId(sender);
            let mut f = std::vec![0x61u8, 0x00, 0, 0, 0, 0, 0];
            f.extend_from_slice(&routing);
            let off = f.len();
            f.extend_from_slice(&body);
            f.extend_from_slice(&[0; TAG_LEN]);
            seal_frame(&k, &sender, counter, &mut f, off, Protection::Encrypt).unwrap();
            let mut w = ReplayWindow::new();
            let r = open_frame(&k, &sender, &mut f, off, Protection::Encrypt, &mut w).unwrap();
            prop_assert_eq!(&f[r], &body[..]);
        }

        #[test]
        fn any_bit_flip_fails(
            suite in suites(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
            auth_only in any::<bool>(),
        ) {
            let k = key(suite);
            let p = if auth_only { Protection::AuthenticateOnly } else { Protection::Encrypt };
            let mut f = frame(&body);
            seal_frame(&k, &SENDER, 3, &mut f, 7, p).unwrap();
            let i = flip.index(f.len());
            f[i] ^= 1 << bit;
            let mut w = ReplayWindow::new();
            prop_assert!(open_frame(&k, &SENDER, &mut f, 7, p, &mut w).is_err());
        }
    }
}
