//! Application ids and the Package header that starts every multi-fragment transfer
//! (`frames.md` §6).

use core::fmt;

use sha2::{Digest, Sha256};

use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};

/// Length of the Package header.
pub const HEADER_LEN: usize = 10;

/// A stable application id: the first two bytes (little-endian) of SHA-256 over the name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(pub u16);

impl AppId {
    /// Derive the id of an application from its name. Returns `None` for the two reserved
    /// values (0 and 0xFFFF): pick another name.
    pub fn from_name(name: &str) -> Option<Self> {
        let digest = Sha256::digest(name.as_bytes());
        let id = u16::from_le_bytes([digest[0], digest[1]]);
        Self::new(id)
    }

    /// An id from its value; `None` if reserved.
    pub const fn new(id: u16) -> Option<Self> {
        if id == 0 || id == u16::MAX {
            None
        } else {
            Some(Self(id))
        }
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app:{:04x}", self.0)
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}", self.0)
    }
}

/// CRC-32 (IEEE 802.3) of `data`, as the Package header carries it.
pub fn crc32(data: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(data)
}

/// The Package header: which application, how long, and an integrity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Destination application.
    pub app: AppId,
    /// Payload length in bytes.
    pub length: u32,
    /// CRC-32 of the payload.
    pub crc: u32,
}

impl Repr {
    /// The header describing `payload` for `app`; `Err(TooLong)` beyond `u32::MAX` bytes.
    pub fn for_payload(app: AppId, payload: &[u8]) -> Result<Self> {
        Ok(Self {
            app,
            length: u32::try_from(payload.len()).map_err(|_| Error::TooLong)?,
            crc: crc32(payload),
        })
    }

    /// Parse from the front of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf);
        let app = AppId::new(r.u16()?).ok_or(Error::Malformed)?;
        Ok(Self {
            app,
            length: r.u32()?,
            crc: r.u32()?,
        })
    }

    /// Always [`HEADER_LEN`].
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emit into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf);
        w.u16(self.app.0)?;
        w.u32(self.length)?;
        w.u32(self.crc)?;
        Ok(w.pos())
    }

    /// Check `payload` against the header: length, then CRC (skipped under `cfg(fuzzing)`).
    pub fn verify(&self, payload: &[u8]) -> Result<()> {
        if payload.len() != self.length as usize {
            return Err(Error::BadLength);
        }
        if cfg!(fuzzing) || crc32(payload) == self.crc {
            Ok(())
        } else {
            Err(Error::BadChecksum)
        }
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "package app {} len {} crc {:08x}",
            self.app, self.length, self.crc
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        // The CRC-32/ISO-HDLC check value.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn app_ids_are_stable() {
        // SHA-256("mqtt-gateway") begins 0x5d 0x24 ... (checked in docs/spec/frames.md).
        let id = AppId::from_name("mqtt-gateway").unwrap();
        assert_eq!(id, AppId::from_name("mqtt-gateway").unwrap());
        assert_ne!(id, AppId::from_name("sensor").unwrap());
        assert_eq!(AppId::new(0), None);
        assert_eq!(AppId::new(0xffff), None);
    }

    #[test]
    fn test_emit_parse() {
        let h = Repr::for_payload(AppId(0x1234), b"123456789").unwrap();
        let mut buf = [0u8; HEADER_LEN];
        h.emit(&mut buf).unwrap();
        assert_eq!(buf, [0x34, 0x12, 9, 0, 0, 0, 0x26, 0x39, 0xf4, 0xcb]);
        assert_eq!(Repr::parse(&buf).unwrap(), h);
        assert!(h.verify(b"123456789").is_ok());
        assert_eq!(h.verify(b"12345678"), Err(Error::BadLength));
        assert_eq!(h.verify(b"123456780"), Err(Error::BadChecksum));
    }
}
