//! Trace-route probes and replies (`frames.md` §5.5).
//!
//! ```text
//! probe id u16 | byte 2: bit 7 reply, bit 6 zero, bits 5..0 hop count h (0..=32)
//! h × (short id (4) | rssi i8 | quality u8 | latency ms u16)
//! ```

use core::fmt;

use crate::address::ShortId;
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const PROBE: Range<usize> = 0..2;
    pub(super) const FLAGS: usize = 2;
    pub(super) const HOPS: usize = 3;
}

/// Length of the fixed part.
pub const HEADER_LEN: usize = field::HOPS;
/// Encoded length of one hop.
pub const HOP_LEN: usize = 8;

/// Most hops a trace records.
pub const MAX_HOPS: usize = 32;

/// One recorded hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hop {
    /// The node that recorded the hop.
    pub node: ShortId,
    /// RSSI of the frame as it arrived there, in dBm.
    pub rssi: i8,
    /// Link quality of that hop (0..=255, higher is better).
    pub quality: u8,
    /// Milliseconds the frame spent reaching that node from the previous one.
    pub latency_ms: u16,
}

packet_view! {
    /// A read/write view over a Trace body.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than the fixed part plus the hops it announces,
    /// `Err(BadLength)` if longer.
    pub fn check_len(&self) -> Result<()> {
        let len = self.bytes().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let want = HEADER_LEN + HOP_LEN * usize::from(self.hop_count());
        if len < want {
            Err(Error::Truncated)
        } else if len > want {
            Err(Error::BadLength)
        } else {
            Ok(())
        }
    }
    /// The probe id.
    pub fn probe(&self) -> u16 {
        let b = &self.bytes()[field::PROBE];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The flags byte (reply bit, reserved bit, hop count).
    pub fn flags(&self) -> u8 {
        self.bytes()[field::FLAGS]
    }
    /// Whether this is the reply.
    pub fn reply(&self) -> bool {
        self.flags() & 0x80 != 0
    }
    /// The number of hops recorded.
    pub fn hop_count(&self) -> u8 {
        self.flags() & 0x3f
    }
    /// Hop `i` (`i < hop_count()`).
    pub fn hop(&self, i: usize) -> Hop {
        let at = HEADER_LEN + HOP_LEN * i;
        let b = &self.bytes()[at..at + HOP_LEN];
        Hop {
            node: ShortId([b[0], b[1], b[2], b[3]]),
            rssi: i8::from_le_bytes([b[4]]),
            quality: b[5],
            latency_ms: u16::from_le_bytes([b[6], b[7]]),
        }
    }
    /// The recorded hops, read from the buffer.
    pub fn hops(&self) -> impl Iterator<Item = Hop> + '_ {
        (0..usize::from(self.hop_count())).map(|i| self.hop(i))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the probe id.
    pub fn set_probe(&mut self, probe: u16) {
        self.bytes_mut()[field::PROBE].copy_from_slice(&probe.to_le_bytes());
    }
    /// Set the flags byte.
    pub fn set_flags(&mut self, flags: u8) {
        self.bytes_mut()[field::FLAGS] = flags;
    }
    /// Write hop `i`.
    pub fn set_hop(&mut self, i: usize, hop: &Hop) {
        let at = HEADER_LEN + HOP_LEN * i;
        let b = &mut self.bytes_mut()[at..at + HOP_LEN];
        b[..4].copy_from_slice(&hop.node.0);
        b[4] = hop.rssi.to_le_bytes()[0];
        b[5] = hop.quality;
        b[6..8].copy_from_slice(&hop.latency_ms.to_le_bytes());
    }
}

/// The meaning of a Trace body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Probe id chosen by the origin.
    pub probe: u16,
    /// Whether this is the reply travelling back.
    pub reply: bool,
    count: u8,
    hops: [Hop; MAX_HOPS],
}

impl Repr {
    /// A probe with no hops yet.
    pub fn new(probe: u16, reply: bool) -> Self {
        Self {
            probe,
            reply,
            count: 0,
            hops: [Hop::default(); MAX_HOPS],
        }
    }

    /// The recorded hops.
    pub fn hops(&self) -> &[Hop] {
        &self.hops[..usize::from(self.count)]
    }

    /// Record a hop; `Err(TooLong)` beyond [`MAX_HOPS`].
    pub fn push(&mut self, hop: Hop) -> Result<()> {
        let slot = self
            .hops
            .get_mut(usize::from(self.count))
            .ok_or(Error::TooLong)?;
        *slot = hop;
        self.count += 1;
        Ok(())
    }

    /// Parse a Trace body.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        if let Some(&flags) = packet.bytes().get(field::FLAGS)
            && (flags & 0x40 != 0 || usize::from(flags & 0x3f) > MAX_HOPS)
        {
            return Err(Error::Malformed);
        }
        packet.check_len()?;
        let mut t = Self::new(packet.probe(), packet.reply());
        for hop in packet.hops() {
            t.push(hop)?;
        }
        Ok(t)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + HOP_LEN * usize::from(self.count)
    }

    /// Emit into `packet`; `Err(TooLong)` if it is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        ensure_room!(packet, self.buffer_len());
        packet.set_probe(self.probe);
        // count <= MAX_HOPS (32) < 64, checked by push().
        packet.set_flags((u8::from(self.reply) << 7) | self.count);
        for (i, h) in self.hops().iter().enumerate() {
            packet.set_hop(i, h);
        }
        Ok(())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trace #{}{}",
            self.probe,
            if self.reply { " reply" } else { "" }
        )?;
        for h in self.hops() {
            write!(f, " {}({} dBm, {} ms)", h.node, h.rssi, h.latency_ms)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // frames.md §8: reply to probe 1, one hop: 01020304, -60 dBm, quality 200, 12 ms.
    static TRACE: [u8; 11] = [0x01, 0x00, 0x81, 1, 2, 3, 4, 0xc4, 200, 0x0c, 0x00];

    fn repr() -> Repr {
        let mut t = Repr::new(1, true);
        t.push(Hop {
            node: ShortId([1, 2, 3, 4]),
            rssi: -60,
            quality: 200,
            latency_ms: 12,
        })
        .unwrap();
        t
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&TRACE[..]).unwrap();
        assert_eq!(p.hops().count(), 1);
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&[0u8, 0, 0x21][..])),
            Err(Error::Malformed)
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&TRACE[..10])),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 11];
        repr().emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, TRACE);
    }
}
