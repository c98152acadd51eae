//! Application ids and the Package header that starts every multi-fragment transfer
//! (`frames.md` §6).
//!
//! ```text
//! application id u16 | payload length u32 | CRC-32 (IEEE) of the payload u32
//! ```

use core::fmt;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

mod field {
    use core::ops::Range;
    pub(super) const APP: Range<usize> = 0..2;
    pub(super) const LENGTH: Range<usize> = 2..6;
    pub(super) const CRC: Range<usize> = 6..10;
}

/// Length of the Package header.
pub const HEADER_LEN: usize = field::CRC.end;

/// A stable application id: the first two bytes (little-endian) of SHA-256 over the name.
///
/// 0 and 0xFFFF are reserved: [`AppId::new`] and [`AppId::from_name`] never make them, parsers
/// reject them ([`Error::Malformed`]) and every `emit` refuses them ([`Error::Malformed`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(pub u16);

impl AppId {
    /// Derive the id of an application from its name. Returns `None` for the two reserved
    /// values (0 and 0xFFFF): pick another name.
    pub fn from_name(name: &str) -> Option<Self> {
        let digest = Sha256::digest(name.as_bytes());
        Self::new(u16::from_le_bytes([digest[0], digest[1]]))
    }

    /// An id from its value; `None` if reserved (0 or 0xFFFF).
    pub const fn new(id: u16) -> Option<Self> {
        if id == 0 || id == u16::MAX {
            None
        } else {
            Some(Self(id))
        }
    }

    /// The id's value.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Whether the value is one of the two reserved ones (only possible through the public
    /// field).
    pub const fn is_reserved(self) -> bool {
        self.0 == 0 || self.0 == u16::MAX
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

/// The CRC-32 engine; its 1 KiB table is built at compile time.
static CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 (IEEE 802.3, `CRC-32/ISO-HDLC`) of `data`, as the Package header carries it.
pub fn crc32(data: &[u8]) -> u32 {
    CRC32.checksum(data)
}

packet_view! {
    /// A read/write view over a Package header.
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
    /// The raw application id.
    pub fn app(&self) -> u16 {
        let b = &self.bytes()[field::APP];
        u16::from_le_bytes([b[0], b[1]])
    }
    /// The payload length.
    pub fn length(&self) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.bytes()[field::LENGTH]);
        u32::from_le_bytes(b)
    }
    /// The payload's CRC-32.
    pub fn crc(&self) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.bytes()[field::CRC]);
        u32::from_le_bytes(b)
    }
    /// The bytes after the header (the start of the payload, in a transfer buffer).
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> AsMut<[u8]> for Packet<T> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.bytes_mut()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the application id.
    pub fn set_app(&mut self, app: u16) {
        self.bytes_mut()[field::APP].copy_from_slice(&app.to_le_bytes());
    }
    /// Set the payload length.
    pub fn set_length(&mut self, length: u32) {
        self.bytes_mut()[field::LENGTH].copy_from_slice(&length.to_le_bytes());
    }
    /// Set the CRC.
    pub fn set_crc(&mut self, crc: u32) {
        self.bytes_mut()[field::CRC].copy_from_slice(&crc.to_le_bytes());
    }
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

    /// Parse the header at the front of `packet`: a [`Packet`] view or, since the header
    /// starts a transfer buffer, the buffer's bytes themselves.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &T) -> Result<Self> {
        let packet = Packet::new_checked(packet.as_ref())?;
        Ok(Self {
            app: AppId::new(packet.app()).ok_or(Error::Malformed)?,
            length: packet.length(),
            crc: packet.crc(),
        })
    }

    /// Always [`HEADER_LEN`].
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emit into the front of `packet` (a [`Packet`] view or a transfer buffer); returns
    /// [`HEADER_LEN`]. `Err(TooLong)` if it is shorter, `Err(Malformed)` for a reserved app id.
    pub fn emit<T: AsMut<[u8]> + ?Sized>(&self, packet: &mut T) -> Result<usize> {
        if self.app.is_reserved() {
            return Err(Error::Malformed);
        }
        let buf = packet.as_mut();
        let mut packet = Packet::new_unchecked(buf.get_mut(..HEADER_LEN).ok_or(Error::TooLong)?);
        packet.set_app(self.app.get());
        packet.set_length(self.length);
        packet.set_crc(self.crc);
        Ok(HEADER_LEN)
    }

    /// Check `payload` against the header: length, then CRC (the CRC comparison is skipped
    /// under `cfg(fuzzing)` so that fuzzers reach the code behind it).
    pub fn verify(&self, payload: &[u8]) -> Result<()> {
        if u32::try_from(payload.len()) != Ok(self.length) {
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

    // frames.md §8: application 0x1234, 9 bytes, CRC-32 of "123456789".
    static HEADER: [u8; 10] = [0x34, 0x12, 0x09, 0x00, 0x00, 0x00, 0x26, 0x39, 0xf4, 0xcb];

    fn repr() -> Repr {
        Repr::for_payload(AppId::new(0x1234).unwrap(), b"123456789").unwrap()
    }

    #[test]
    fn crc_check_value() {
        // The CRC-32/ISO-HDLC check value.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn app_ids_from_names() {
        // SHA-256("abc") = ba7816bf…: the id is 0x78ba (frames.md §6).
        assert_eq!(AppId::from_name("abc").map(AppId::get), Some(0x78ba));
        // SHA-256("hyphae/device") = 1297a871…: the device protocol's id, 0x9712 (device.md).
        assert_eq!(
            AppId::from_name("hyphae/device").map(AppId::get),
            Some(0x9712)
        );
        assert_eq!(AppId::new(0), None);
        assert_eq!(AppId::new(0xffff), None);
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&HEADER[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert!(repr().verify(b"123456789").is_ok());
        assert_eq!(repr().verify(b"12345678"), Err(Error::BadLength));
        #[cfg(not(fuzzing))]
        assert_eq!(repr().verify(b"123456780"), Err(Error::BadChecksum));
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; HEADER_LEN];
        repr().emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, HEADER);
    }
}
