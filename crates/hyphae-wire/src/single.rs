//! Single frames: a whole message in one frame (`frames.md` §4.1).

use core::fmt;

use crate::cursor::{Reader, Writer};
use crate::error::{Error, Result};
use crate::package::AppId;

/// Length of the Single body header.
pub const HEADER_LEN: usize = 4;

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
    /// Parse a Single body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let transfer = r.u16()?;
        let app = AppId::new(r.u16()?).ok_or(Error::Malformed)?;
        Ok(Self {
            transfer,
            app,
            payload: r.rest(),
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Emit into the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = Writer::new(buf);
        w.u16(self.transfer)?;
        w.u16(self.app.0)?;
        w.put(self.payload)?;
        Ok(w.pos())
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

    static BODY: [u8; 7] = [0x07, 0x00, 0x34, 0x12, b'h', b'i', b'!'];

    #[test]
    fn test_parse_emit() {
        let r = Repr::parse(&BODY).unwrap();
        assert_eq!(
            (r.transfer, r.app, r.payload),
            (7, AppId(0x1234), &b"hi!"[..])
        );
        let mut buf = [0u8; 7];
        assert_eq!(r.emit(&mut buf).unwrap(), 7);
        assert_eq!(buf, BODY);
        assert_eq!(Repr::parse(&BODY[..3]), Err(Error::Truncated));
        assert_eq!(Repr::parse(&[0, 0, 0, 0]), Err(Error::Malformed));
    }
}
