//! The crate's error enum (re-exported as [`crate::Error`]).

use core::fmt;

/// Why bytes could not be parsed as a hyphae frame, or a value could not be emitted.
///
/// Carries no payload bytes: it is safe to log and to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the fields its header announces.
    Truncated,
    /// The version field is not [`crate::VERSION`].
    UnsupportedVersion,
    /// The kind field names no known frame kind.
    UnknownKind,
    /// A control code is reserved or not allowed with the frame's kind.
    BadControl,
    /// An address descriptor or coordinate encoding is invalid.
    BadAddress,
    /// A count or length field is out of its stated range.
    BadLength,
    /// A field holds a value outside its stated range.
    Malformed,
    /// A checksum did not match.
    BadChecksum,
    /// The value does not fit the buffer or the format's limits.
    TooLong,
    /// Text that must be UTF-8 is not.
    BadUtf8,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "frame truncated",
            Self::UnsupportedVersion => "unsupported frame version",
            Self::UnknownKind => "unknown frame kind",
            Self::BadControl => "bad control code",
            Self::BadAddress => "bad address",
            Self::BadLength => "count or length out of range",
            Self::Malformed => "malformed field",
            Self::BadChecksum => "checksum mismatch",
            Self::TooLong => "value too long for the format or buffer",
            Self::BadUtf8 => "text is not UTF-8",
        })
    }
}

impl core::error::Error for Error {}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, Error>;
