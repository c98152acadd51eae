//! Status bodies: request-node-status and node-is-active (`frames.md` §4.4).

use core::fmt;

use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

/// The meaning of a Status body; which one it is follows from the control code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr {
    /// Request node status: an empty body.
    RequestNodeStatus,
    /// Node is active, staying awake for this many milliseconds.
    NodeIsActive {
        /// Awake window in milliseconds.
        awake_ms: u16,
    },
}

impl Repr {
    /// Parse a body; `nia` is whether the control code was node-is-active.
    pub fn parse(body: &[u8], nia: bool) -> Result<Self> {
        let mut r = Reader::new(body);
        let repr = if nia {
            Self::NodeIsActive { awake_ms: r.u16()? }
        } else {
            Self::RequestNodeStatus
        };
        if r.remaining() != 0 {
            return Err(Error::BadLength);
        }
        Ok(repr)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::RequestNodeStatus => 0,
            Self::NodeIsActive { .. } => 2,
        }
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf);
        if let Self::NodeIsActive { awake_ms } = self {
            w.u16(*awake_ms)?;
        }
        Ok(w.pos())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RequestNodeStatus => f.write_str("rns"),
            Self::NodeIsActive { awake_ms } => write!(f, "nia awake {awake_ms} ms"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_emit() {
        assert_eq!(Repr::parse(&[], false).unwrap(), Repr::RequestNodeStatus);
        let nia = Repr::parse(&[0xe8, 0x03], true).unwrap();
        assert_eq!(nia, Repr::NodeIsActive { awake_ms: 1000 });
        let mut buf = [0u8; 2];
        assert_eq!(nia.emit(&mut buf).unwrap(), 2);
        assert_eq!(buf, [0xe8, 0x03]);
        assert_eq!(Repr::parse(&[1], false), Err(Error::BadLength));
        assert_eq!(Repr::parse(&[1], true), Err(Error::Truncated));
    }
}
