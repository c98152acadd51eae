//! Gossip messages and announcements (`frames.md` §5.3).

use core::fmt;

use crate::address::ShortId;
use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

/// Length of the fixed part.
pub const HEADER_LEN: usize = 9;
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
        /// First four bytes of SHA-256 over the payload.
        digest: [u8; 4],
    },
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
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let b0 = r.u8()?;
        if b0 & 0xe0 != 0 {
            return Err(Error::Malformed);
        }
        let origin = ShortId(r.array()?);
        let id = r.u16()?;
        let topic = r.u16()?;
        let body = if b0 & 0x10 != 0 {
            let length = r.u16()?;
            let digest = r.array()?;
            if r.remaining() != 0 {
                return Err(Error::BadLength);
            }
            Body::Announce { length, digest }
        } else {
            Body::Data(r.rest())
        };
        Ok(Self {
            hops_left: b0 & 0x0f,
            origin,
            id,
            topic,
            body,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self.body {
                Body::Data(d) => d.len(),
                Body::Announce { .. } => 6,
            }
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.hops_left > MAX_HOPS {
            return Err(Error::Malformed);
        }
        let mut w = Writer::new(buf);
        let announce = matches!(self.body, Body::Announce { .. });
        w.u8(self.hops_left | (u8::from(announce) << 4))?;
        w.put(&self.origin.0)?;
        w.u16(self.id)?;
        w.u16(self.topic)?;
        match self.body {
            Body::Data(d) => w.put(d)?,
            Body::Announce { length, digest } => {
                w.u16(length)?;
                w.put(&digest)?;
            }
        }
        Ok(w.pos())
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

    static DATA: [u8; 11] = [0x03, 1, 2, 3, 4, 0x10, 0x00, 0x22, 0x11, b'o', b'k'];
    static ANNOUNCE: [u8; 15] = [
        0x13, 1, 2, 3, 4, 0x10, 0x00, 0x22, 0x11, 0x00, 0x04, 9, 8, 7, 6,
    ];

    #[test]
    fn test_parse_emit() {
        for fixture in [&DATA[..], &ANNOUNCE[..]] {
            let g = Repr::parse(fixture).unwrap();
            assert_eq!((g.hops_left, g.id, g.topic), (3, 16, 0x1122));
            let mut buf = [0u8; 15];
            let n = g.emit(&mut buf).unwrap();
            assert_eq!(&buf[..n], fixture);
        }
        assert_eq!(
            Repr::parse(&[0x20, 1, 2, 3, 4, 0, 0, 0, 0]),
            Err(Error::Malformed)
        );
    }
}
