//! Error and unreachable notices: the body of frames of kind `Error` (`frames.md` §4.5).
//!
//! ```text
//! code u8 | transfer u16 | reporter address (`address`)
//! ```
//!
//! (The crate's parse error type is [`crate::Error`]; this module is the on-air notice.)

use core::fmt;

use crate::address::Address;
use crate::cursor::{Reader, Writer};
use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const CODE: usize = 0;
    pub(super) const TRANSFER: Range<usize> = 1..3;
    pub(super) const REPORTER: usize = TRANSFER.end;
}

/// Length of the fixed part (code and transfer id).
pub const HEADER_LEN: usize = field::REPORTER;

/// Why a transfer failed, as a notice reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    /// No route to the destination from the reporting node.
    Unreachable = 1,
    /// The hop limit reached zero at the reporting node.
    HopLimitExceeded = 2,
    /// The transfer is larger than the receiver admits.
    TooLarge = 3,
    /// The receiver has no room for another transfer now; retry later.
    Busy = 4,
    /// The receiver refused the transfer (policy, authentication, ban).
    Rejected = 5,
    /// No application with that id runs at the destination.
    NoSuchApplication = 6,
    /// The receiver gave up waiting for the rest of the transfer.
    TimedOut = 7,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Self; 7] = [
        Self::Unreachable,
        Self::HopLimitExceeded,
        Self::TooLarge,
        Self::Busy,
        Self::Rejected,
        Self::NoSuchApplication,
        Self::TimedOut,
    ];
}

impl TryFrom<u8> for Code {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| *c as u8 == v)
            .ok_or(Error::Malformed)
    }
}

packet_view! {
    /// A read/write view over an Error body.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if shorter than [`HEADER_LEN`] (the address is checked by
    /// [`Repr::parse`]).
    pub fn check_len(&self) -> Result<()> {
        if self.bytes().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// The raw code.
    pub fn code(&self) -> u8 {
        self.bytes()[field::CODE]
    }
    /// The transfer id the notice refers to.
    pub fn transfer(&self) -> u16 {
        let b = &self.bytes()[field::TRANSFER];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The encoded reporter address.
    pub fn reporter(&self) -> &[u8] {
        &self.bytes()[field::REPORTER..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the code.
    pub fn set_code(&mut self, code: u8) {
        self.bytes_mut()[field::CODE] = code;
    }
    /// Set the transfer id.
    pub fn set_transfer(&mut self, transfer: u16) {
        self.bytes_mut()[field::TRANSFER].copy_from_slice(&transfer.to_le_bytes());
    }
    /// The reporter address bytes, writable.
    pub fn reporter_mut(&mut self) -> &mut [u8] {
        &mut self.bytes_mut()[field::REPORTER..]
    }
}

/// The meaning of an Error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// What went wrong.
    pub code: Code,
    /// The transfer the notice refers to.
    pub transfer: u16,
    /// The node that reports it.
    pub reporter: Address,
}

impl Repr {
    /// Parse an Error body; the address must end the body.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        let code = Code::try_from(packet.code())?;
        let mut r = Reader::new(packet.reporter());
        let reporter = Address::read(&mut r)?;
        if r.remaining() != 0 {
            return Err(Error::BadLength);
        }
        Ok(Self {
            code,
            transfer: packet.transfer(),
            reporter,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.reporter.buffer_len()
    }

    /// Emit into `packet`; `Err(TooLong)` if it is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        ensure_room!(packet, self.buffer_len());
        packet.set_code(self.code as u8);
        packet.set_transfer(self.transfer);
        self.reporter.write(&mut Writer::new(packet.reporter_mut()))
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error {:?} #{} at {}",
            self.code, self.transfer, self.reporter
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::ShortId;

    // frames.md §8: unreachable, transfer 9, reported by ~aabbccdd.
    static NOTICE: [u8; 8] = [0x01, 0x09, 0x00, 0x40, 0xaa, 0xbb, 0xcc, 0xdd];

    fn repr() -> Repr {
        Repr {
            code: Code::Unreachable,
            transfer: 9,
            reporter: Address::Short(ShortId([0xaa, 0xbb, 0xcc, 0xdd])),
        }
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&NOTICE[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        let bad = [0, 0, 0, 0x40, 1, 2, 3, 4];
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bad)),
            Err(Error::Malformed)
        );
        let long = [1, 9, 0, 0x40, 0xaa, 0xbb, 0xcc, 0xdd, 0];
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&long)),
            Err(Error::BadLength)
        );
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 8];
        repr().emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, NOTICE);
    }
}
