//! The reserved security header and trailer (`frames.md` §2; key schedule in `security.md`).
//!
//! When the secure flag is set, a 5-byte security header follows the common header and a
//! 16-byte authentication tag ends the frame. This crate only lays the bytes out; sealing and
//! opening belong to `hyphae-crypto`.

use core::fmt;

use crate::cursor::{Reader, Writer};
use crate::error::Result;

/// Length of the security header (key id + frame counter).
pub const HEADER_LEN: usize = 5;
/// Length of the authentication tag.
pub const TAG_LEN: usize = 16;
/// Bytes a secure frame adds over an insecure one.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// The meaning of a security header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Repr {
    /// Which key sealed the frame.
    pub key_id: u8,
    /// The sender's frame counter: with the sender's identity, the AEAD nonce. Never reused
    /// under one key.
    pub counter: u32,
}

impl Repr {
    /// Parse from the front of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        Ok(Self {
            key_id: r.u8()?,
            counter: r.u32()?,
        })
    }

    /// Always [`HEADER_LEN`].
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf);
        w.u8(self.key_id)?;
        w.u32(self.counter)?;
        Ok(w.pos())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {} ctr {}", self.key_id, self.counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_emit() {
        let s = Repr {
            key_id: 2,
            counter: 0x0403_0201,
        };
        let mut buf = [0u8; 5];
        s.emit(&mut buf).unwrap();
        assert_eq!(buf, [2, 1, 2, 3, 4]);
        assert_eq!(Repr::parse(&buf).unwrap(), s);
        assert!(Repr::parse(&buf[..4]).is_err());
    }
}
