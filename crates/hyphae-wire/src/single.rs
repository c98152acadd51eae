//! Single frames: a whole message in one frame (`frames.md` §4.1).
//!
//! ```text
//! bytes 0..2: transfer id (u16 LE) | bytes 2..4: application id (u16 LE) | payload
//! ```

use core::fmt;

use crate::package::AppId;
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const TRANSFER: Range<usize> = 0..2;
    pub(super) const APP: Range<usize> = 2..4;
    pub(super) const PAYLOAD: usize = APP.end;
}

/// Length of the Single body header.
pub const HEADER_LEN: usize = field::PAYLOAD;

packet_view! {
    /// A read/write view over a Single body.
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
    /// The transfer id.
    pub fn transfer(&self) -> u16 {
        let b = &self.bytes()[field::TRANSFER];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The raw application id.
    pub fn app(&self) -> u16 {
        let b = &self.bytes()[field::APP];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The application payload.
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the transfer id.
    pub fn set_transfer(&mut self, transfer: u16) {
        self.bytes_mut()[field::TRANSFER].copy_from_slice(&transfer.to_le_bytes());
    }
    /// Set the application id.
    pub fn set_app(&mut self, app: u16) {
        self.bytes_mut()[field::APP].copy_from_slice(&app.to_le_bytes());
    }
    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.bytes_mut()[field::PAYLOAD..]
    }
}

/// The meaning of a Single body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Transfer id, unique per (sender, destination) within the dedup window.
    pub transfer: u16,
    /// Destination application.
    pub app: AppId,
    /// Application payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parse a Single body; the payload runs to the end of the view.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        Ok(Self {
            transfer: packet.transfer(),
            app: AppId::new(packet.app()).ok_or(Error::Malformed)?,
            payload: &packet.whole()[field::PAYLOAD..],
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Emit into the front of `packet`; `Err(TooLong)` if it is shorter than
    /// [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.app.is_reserved() {
            return Err(Error::Malformed);
        }
        ensure_room!(packet, self.buffer_len());
        packet.set_transfer(self.transfer);
        packet.set_app(self.app.get());
        packet.payload_mut()[..self.payload.len()].copy_from_slice(self.payload);
        Ok(())
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "single #{} app {} {} B",
            self.transfer,
            self.app,
            self.payload.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // transfer 7, application 0x1234, payload "hi" (frames.md §8)
    static BODY: [u8; 6] = [0x07, 0x00, 0x34, 0x12, b'h', b'i'];

    fn repr() -> Repr<'static> {
        Repr {
            transfer: 7,
            app: AppId::new(0x1234).unwrap(),
            payload: b"hi",
        }
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&BODY[..]).unwrap();
        assert_eq!(
            (p.transfer(), p.app(), p.payload()),
            (7, 0x1234, &b"hi"[..])
        );
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!(
            Packet::new_checked(&BODY[..3]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&[0u8, 0, 0, 0][..])),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 6];
        repr().emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, BODY);
        assert_eq!(
            repr().emit(&mut Packet::new_unchecked(&mut [0u8; 5])),
            Err(Error::TooLong)
        );
    }
}
