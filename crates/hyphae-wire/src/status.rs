//! Status bodies: request-node-status and node-is-active (`frames.md` §4.4).
//!
//! ```text
//! RNS (control 3): empty
//! NIA (control 4): awake window in milliseconds (u16 LE)
//! ```

use core::fmt;

use crate::header::Control;
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const AWAKE: Range<usize> = 0..2;
}

/// Length of a node-is-active body.
pub const NIA_LEN: usize = field::AWAKE.end;

packet_view! {
    /// A read/write view over a Status body.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(BadLength)` unless the body is empty (RNS) or [`NIA_LEN`] bytes (NIA).
    pub fn check_len(&self) -> Result<()> {
        match self.bytes().len() {
            0 | NIA_LEN => Ok(()),
            _ => Err(Error::BadLength),
        }
    }
    /// The awake window of an NIA body (`None` for an empty body).
    pub fn awake_ms(&self) -> Option<u16> {
        let b = self.bytes().get(field::AWAKE)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the awake window of an NIA body.
    pub fn set_awake_ms(&mut self, ms: u16) {
        self.bytes_mut()[field::AWAKE].copy_from_slice(&ms.to_le_bytes());
    }
}

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
    /// Parse a body sent with `control` (request-node-status or node-is-active).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, control: Control) -> Result<Self> {
        packet.check_len()?;
        match (control, packet.awake_ms()) {
            (Control::RequestNodeStatus, None) => Ok(Self::RequestNodeStatus),
            (Control::NodeIsActive, Some(awake_ms)) => Ok(Self::NodeIsActive { awake_ms }),
            (Control::RequestNodeStatus | Control::NodeIsActive, _) => Err(Error::BadLength),
            _ => Err(Error::BadControl),
        }
    }

    /// The control code this body is sent with.
    pub fn control(&self) -> Control {
        match self {
            Self::RequestNodeStatus => Control::RequestNodeStatus,
            Self::NodeIsActive { .. } => Control::NodeIsActive,
        }
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::RequestNodeStatus => 0,
            Self::NodeIsActive { .. } => NIA_LEN,
        }
    }

    /// Emit into `packet`; `Err(TooLong)` if it is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        ensure_room!(packet, self.buffer_len());
        if let Self::NodeIsActive { awake_ms } = self {
            packet.set_awake_ms(*awake_ms);
        }
        Ok(())
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

    // frames.md §8: NIA, awake for 1000 ms.
    static NIA: [u8; 2] = [0xe8, 0x03];

    #[test]
    fn test_parse() {
        let empty: &[u8] = &[];
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(empty), Control::RequestNodeStatus),
            Ok(Repr::RequestNodeStatus)
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&NIA), Control::NodeIsActive),
            Ok(Repr::NodeIsActive { awake_ms: 1000 })
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&NIA), Control::RequestNodeStatus),
            Err(Error::BadLength)
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&[1u8][..]), Control::NodeIsActive),
            Err(Error::BadLength)
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(empty), Control::Ack),
            Err(Error::BadControl)
        );
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 2];
        Repr::NodeIsActive { awake_ms: 1000 }
            .emit(&mut Packet::new_unchecked(&mut buf))
            .unwrap();
        assert_eq!(buf, NIA);
    }
}
