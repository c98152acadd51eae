//! Error and unreachable notices (`frames.md` §4.5).

use core::fmt;

use crate::address::Address;
use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

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

impl TryFrom<u8> for Code {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Ok(match v {
            1 => Self::Unreachable,
            2 => Self::HopLimitExceeded,
            3 => Self::TooLarge,
            4 => Self::Busy,
            5 => Self::Rejected,
            6 => Self::NoSuchApplication,
            7 => Self::TimedOut,
            _ => return Err(Error::Malformed),
        })
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
    /// Parse an Error body.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let code = Code::try_from(r.u8()?)?;
        let transfer = r.u16()?;
        let reporter = Address::read(&mut r)?;
        if r.remaining() != 0 {
            return Err(Error::BadLength);
        }
        Ok(Self {
            code,
            transfer,
            reporter,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        3 + self.reporter.buffer_len()
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf);
        w.u8(self.code as u8)?;
        w.u16(self.transfer)?;
        self.reporter.write(&mut w)?;
        Ok(w.pos())
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

    static NOTICE: [u8; 8] = [0x01, 0x09, 0x00, 0x40, 0xaa, 0xbb, 0xcc, 0xdd];

    #[test]
    fn test_parse_emit() {
        let r = Repr::parse(&NOTICE).unwrap();
        assert_eq!(r.code, Code::Unreachable);
        assert_eq!(r.transfer, 9);
        assert_eq!(
            r.reporter,
            Address::Short(ShortId([0xaa, 0xbb, 0xcc, 0xdd]))
        );
        let mut buf = [0u8; 8];
        assert_eq!(r.emit(&mut buf).unwrap(), 8);
        assert_eq!(buf, NOTICE);
        assert_eq!(
            Repr::parse(&[0, 0, 0, 0x40, 1, 2, 3, 4]),
            Err(Error::Malformed)
        );
    }
}
