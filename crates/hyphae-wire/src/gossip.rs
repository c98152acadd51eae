//! Gossip messages and announcements (`frames.md` §5.3).
//!
//! ```text
//! byte 0: bits 7..5 zero | bit 4 announce | bits 3..0 hops left
//! origin short id (4) | message id u16 | topic u16 | payload, or (length u16 | digest (4))
//! ```

use core::fmt;

use crate::address::ShortId;
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const FLAGS: usize = 0;
    pub(super) const ORIGIN: Range<usize> = 1..5;
    pub(super) const ID: Range<usize> = 5..7;
    pub(super) const TOPIC: Range<usize> = 7..9;
    pub(super) const PAYLOAD: usize = TOPIC.end;
    pub(super) const ANN_LENGTH: Range<usize> = 9..11;
    pub(super) const ANN_DIGEST: Range<usize> = 11..15;
}

/// Length of the fixed part.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of an announcement body (fixed part, length and digest).
pub const ANNOUNCE_LEN: usize = field::ANN_DIGEST.end;
const ANNOUNCE_BIT: u8 = 0x10;
/// Largest hop count the 4-bit field carries.
pub const MAX_HOPS: u8 = 15;

/// What a gossip frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body<'a> {
    /// The payload itself.
    Data(&'a [u8]),
    /// An announcement of a payload too large for one frame: fetch it on demand.
    Announce {
        /// Payload length in bytes.
        length: u16,
        /// First four bytes of SHA-256 over the payload ([`digest`]).
        digest: [u8; 4],
    },
}

/// The digest an announcement carries: the first four bytes of SHA-256 over the payload.
pub fn digest(payload: &[u8]) -> [u8; 4] {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(payload);
    [d[0], d[1], d[2], d[3]]
}

packet_view! {
    /// A read/write view over a Gossip body.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than [`HEADER_LEN`] (or, for an announcement, than
    /// [`ANNOUNCE_LEN`]); `Err(BadLength)` for an announcement longer than that.
    pub fn check_len(&self) -> Result<()> {
        let len = self.bytes().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.announce() {
            if len < ANNOUNCE_LEN {
                return Err(Error::Truncated);
            }
            if len > ANNOUNCE_LEN {
                return Err(Error::BadLength);
            }
        }
        Ok(())
    }
    /// The flags byte (hops left, announce bit, reserved bits).
    pub fn flags(&self) -> u8 {
        self.bytes()[field::FLAGS]
    }
    /// Hops the message may still travel.
    pub fn hops_left(&self) -> u8 {
        self.flags() & 0x0f
    }
    /// Whether this is an announcement.
    pub fn announce(&self) -> bool {
        self.flags() & ANNOUNCE_BIT != 0
    }
    /// The originating node.
    pub fn origin(&self) -> ShortId {
        let mut id = [0; 4];
        id.copy_from_slice(&self.bytes()[field::ORIGIN]);
        ShortId(id)
    }
    /// The message id.
    pub fn id(&self) -> u16 {
        let b = &self.bytes()[field::ID];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The topic.
    pub fn topic(&self) -> u16 {
        let b = &self.bytes()[field::TOPIC];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The payload (or, for an announcement, length and digest).
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[field::PAYLOAD..]
    }
    /// The announced length (announcements only).
    pub fn announced_length(&self) -> u16 {
        let b = &self.bytes()[field::ANN_LENGTH];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The announced digest (announcements only).
    pub fn announced_digest(&self) -> [u8; 4] {
        let mut d = [0; 4];
        d.copy_from_slice(&self.bytes()[field::ANN_DIGEST]);
        d
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the flags byte.
    pub fn set_flags(&mut self, flags: u8) {
        self.bytes_mut()[field::FLAGS] = flags;
    }
    /// Set the origin.
    pub fn set_origin(&mut self, origin: ShortId) {
        self.bytes_mut()[field::ORIGIN].copy_from_slice(&origin.0);
    }
    /// Set the message id.
    pub fn set_id(&mut self, id: u16) {
        self.bytes_mut()[field::ID].copy_from_slice(&id.to_le_bytes());
    }
    /// Set the topic.
    pub fn set_topic(&mut self, topic: u16) {
        self.bytes_mut()[field::TOPIC].copy_from_slice(&topic.to_le_bytes());
    }
    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.bytes_mut()[field::PAYLOAD..]
    }
    /// Set the announced length and digest.
    pub fn set_announced(&mut self, length: u16, digest: [u8; 4]) {
        self.bytes_mut()[field::ANN_LENGTH].copy_from_slice(&length.to_le_bytes());
        self.bytes_mut()[field::ANN_DIGEST].copy_from_slice(&digest);
    }
}

/// The meaning of a Gossip body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Hops the message may still travel (0..=15).
    pub hops_left: u8,
    /// The node that started the gossip.
    pub origin: ShortId,
    /// Message id, per origin.
    pub id: u16,
    /// Topic.
    pub topic: u16,
    /// Payload or announcement.
    pub body: Body<'a>,
}

impl<'a> Repr<'a> {
    /// Parse a Gossip body.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        if packet.flags() & 0xe0 != 0 {
            return Err(Error::Malformed);
        }
        let body = if packet.announce() {
            Body::Announce {
                length: packet.announced_length(),
                digest: packet.announced_digest(),
            }
        } else {
            Body::Data(&packet.whole()[field::PAYLOAD..])
        };
        Ok(Self {
            hops_left: packet.hops_left(),
            origin: packet.origin(),
            id: packet.id(),
            topic: packet.topic(),
            body,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        match self.body {
            Body::Data(d) => HEADER_LEN + d.len(),
            Body::Announce { .. } => ANNOUNCE_LEN,
        }
    }

    /// Emit into `packet`. `Err(Malformed)` for more than 15 hops left, `Err(TooLong)` if the
    /// buffer is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.hops_left > MAX_HOPS {
            return Err(Error::Malformed);
        }
        ensure_room!(packet, self.buffer_len());
        let announce = matches!(self.body, Body::Announce { .. });
        packet.set_flags(self.hops_left | if announce { ANNOUNCE_BIT } else { 0 });
        packet.set_origin(self.origin);
        packet.set_id(self.id);
        packet.set_topic(self.topic);
        match self.body {
            Body::Data(d) => packet.payload_mut()[..d.len()].copy_from_slice(d),
            Body::Announce { length, digest } => packet.set_announced(length, digest),
        }
        Ok(())
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gossip {}#{} topic {:04x} hops {}",
            self.origin, self.id, self.topic, self.hops_left
        )?;
        match self.body {
            Body::Data(d) => write!(f, " {} B", d.len()),
            Body::Announce { length, .. } => write!(f, " announce {length} B"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // frames.md §8: 3 hops left, origin 01020304, id 16, topic 0x1122, payload "ok"; and the
    // same as an announcement of 1024 bytes with digest 09080706.
    static DATA: [u8; 11] = [0x03, 1, 2, 3, 4, 0x10, 0x00, 0x22, 0x11, b'o', b'k'];
    static ANNOUNCE: [u8; 15] = [
        0x13, 1, 2, 3, 4, 0x10, 0x00, 0x22, 0x11, 0x00, 0x04, 9, 8, 7, 6,
    ];

    fn repr(body: Body<'static>) -> Repr<'static> {
        Repr {
            hops_left: 3,
            origin: ShortId([1, 2, 3, 4]),
            id: 16,
            topic: 0x1122,
            body,
        }
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&DATA[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr(Body::Data(b"ok")));
        let p = Packet::new_checked(&ANNOUNCE[..]).unwrap();
        let announce = Body::Announce {
            length: 1024,
            digest: [9, 8, 7, 6],
        };
        assert_eq!(Repr::parse(&p).unwrap(), repr(announce));
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(
                &[0x20u8, 1, 2, 3, 4, 0, 0, 0, 0][..]
            )),
            Err(Error::Malformed)
        );
        assert_eq!(
            Packet::new_checked(&ANNOUNCE[..14]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn announce_digest() {
        // SHA-256("abc") = ba7816bf…
        assert_eq!(digest(b"abc"), [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 11];
        repr(Body::Data(b"ok"))
            .emit(&mut Packet::new_unchecked(&mut buf))
            .unwrap();
        assert_eq!(buf, DATA);
        let mut buf = [0u8; 15];
        repr(Body::Announce {
            length: 1024,
            digest: [9, 8, 7, 6],
        })
        .emit(&mut Packet::new_unchecked(&mut buf))
        .unwrap();
        assert_eq!(buf, ANNOUNCE);
    }
}
