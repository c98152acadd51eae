//! Trace-route probes and replies (`frames.md` §5.5).

use core::fmt;

use crate::address::ShortId;
use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

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
    pub fn parse(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let probe = r.u16()?;
        let b = r.u8()?;
        if b & 0x40 != 0 || usize::from(b & 0x3f) > MAX_HOPS {
            return Err(Error::Malformed);
        }
        let mut t = Self::new(probe, b & 0x80 != 0);
        for _ in 0..(b & 0x3f) {
            let node = ShortId(r.array()?);
            let rssi = i8::from_le_bytes([r.u8()?]);
            let quality = r.u8()?;
            let latency_ms = r.u16()?;
            t.push(Hop {
                node,
                rssi,
                quality,
                latency_ms,
            })?;
        }
        if r.remaining() != 0 {
            return Err(Error::BadLength);
        }
        Ok(t)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        3 + 8 * usize::from(self.count)
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf);
        w.u16(self.probe)?;
        w.u8((u8::from(self.reply) << 7) | self.count)?;
        for h in self.hops() {
            w.put(&h.node.0)?;
            w.put(&h.rssi.to_le_bytes())?;
            w.u8(h.quality)?;
            w.u16(h.latency_ms)?;
        }
        Ok(w.pos())
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

    static TRACE: [u8; 11] = [0x01, 0x00, 0x81, 1, 2, 3, 4, 0xc4, 200, 0x0c, 0x00];

    #[test]
    fn test_parse_emit() {
        let t = Repr::parse(&TRACE).unwrap();
        assert!(t.reply);
        assert_eq!(t.hops()[0].rssi, -60);
        assert_eq!(t.hops()[0].latency_ms, 12);
        let mut buf = [0u8; 11];
        assert_eq!(t.emit(&mut buf).unwrap(), 11);
        assert_eq!(buf, TRACE);
        assert_eq!(Repr::parse(&[0, 0, 0x21]), Err(Error::Malformed));
    }
}
