//! The reserved security header and trailer (`frames.md` §2; key schedule in `security.md`).
//!
//! When the secure flag is set, a 5-byte security header follows the common header and a
//! 16-byte authentication tag ends the frame:
//!
//! ```text
//! byte 0: key id | bytes 1..5: frame counter (u32 LE)      ...body...   | 16-byte tag
//! ```
//!
//! This crate only lays the bytes out; sealing and opening belong to `hyphae-crypto`.

use core::fmt;

use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const KEY_ID: usize = 0;
    pub(super) const COUNTER: Range<usize> = 1..5;
}

/// Length of the security header (key id + frame counter).
pub const HEADER_LEN: usize = field::COUNTER.end;
/// Length of the authentication tag that ends a secure frame.
pub const TAG_LEN: usize = 16;
/// Bytes a secure frame adds over an insecure one.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

packet_view! {
    /// A read/write view over a security header.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than [`HEADER_LEN`].
    pub fn check_len(&self) -> Result<()> {
        if self.bytes().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// The key id.
    pub fn key_id(&self) -> u8 {
        self.bytes()[field::KEY_ID]
    }
    /// The frame counter.
    pub fn counter(&self) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.bytes()[field::COUNTER]);
        u32::from_le_bytes(b)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the key id.
    pub fn set_key_id(&mut self, id: u8) {
        self.bytes_mut()[field::KEY_ID] = id;
    }
    /// Set the frame counter.
    pub fn set_counter(&mut self, counter: u32) {
        self.bytes_mut()[field::COUNTER].copy_from_slice(&counter.to_le_bytes());
    }
}

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
    /// Parse a security header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        Ok(Self {
            key_id: packet.key_id(),
            counter: packet.counter(),
        })
    }

    /// Always [`HEADER_LEN`].
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emit into `packet`; `Err(TooLong)` if it is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        ensure_room!(packet, HEADER_LEN);
        packet.set_key_id(self.key_id);
        packet.set_counter(self.counter);
        Ok(())
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

    // key id 1, counter 9 (the sealed example of frames.md §8).
    static SECURITY: [u8; 5] = [0x01, 0x09, 0x00, 0x00, 0x00];

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&SECURITY[..]).unwrap();
        assert_eq!(
            Repr::parse(&p).unwrap(),
            Repr {
                key_id: 1,
                counter: 9
            }
        );
        assert_eq!(
            Packet::new_checked(&SECURITY[..4]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 5];
        let r = Repr {
            key_id: 1,
            counter: 9,
        };
        r.emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, SECURITY);
        assert_eq!(
            r.emit(&mut Packet::new_unchecked(&mut [0u8; 4])),
            Err(Error::TooLong)
        );
    }
}
