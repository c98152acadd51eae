//! The crate's error type.

use core::fmt;

/// Why a security operation refused its input. Every variant is a reason to drop a frame and
/// count the drop; none carries secret-dependent detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// An AEAD tag, MAC or signature did not verify (tampering, wrong key, outsider).
    BadAuth,
    /// The frame counter was already seen or is older than the replay window.
    Replay,
    /// The key id names no key the receiver holds (unknown, expired or wrong class).
    UnknownKey,
    /// A message is shorter than its layout or has trailing bytes.
    Malformed,
    /// A field holds a value outside its range (version, op code, low-order point…).
    BadValue,
    /// A membership credential is expired, not yet valid, or lacks the role required.
    NotAdmitted,
    /// The signer is not in the configured list of admin keys.
    UnknownSigner,
    /// A node id does not match the public key it was presented with.
    IdMismatch,
    /// The frame counter space is exhausted: the node must rotate keys before sending.
    CounterExhausted,
    /// The counter or key store failed to read or write.
    Storage,
    /// The caller's random number generator failed.
    Rng,
    /// An output buffer is too small.
    BufferTooSmall,
    /// A handshake message arrived out of order or for another session.
    UnexpectedMessage,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadAuth => "authentication failed",
            Self::Replay => "replayed or stale frame counter",
            Self::UnknownKey => "unknown key id",
            Self::Malformed => "malformed message",
            Self::BadValue => "field value out of range",
            Self::NotAdmitted => "credential expired or lacking a role",
            Self::UnknownSigner => "signer is not an admin",
            Self::IdMismatch => "node id does not match public key",
            Self::CounterExhausted => "frame counter exhausted",
            Self::Storage => "key or counter storage failed",
            Self::Rng => "random number generator failed",
            Self::BufferTooSmall => "output buffer too small",
            Self::UnexpectedMessage => "unexpected handshake message",
        })
    }
}

impl core::error::Error for Error {}

/// Result with the crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
