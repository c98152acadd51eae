//! The stream decoder: bytes in, records out, with bounded memory and resynchronisation on
//! every `0x00` delimiter.

use crate::record::{DecodeError, MAX_ENCODED, Record};

/// Accumulates bytes from a serial stream and yields one record per `0x00` delimiter.
///
/// Memory is one fixed [`MAX_ENCODED`]-byte buffer. A record that overflows it is discarded up
/// to the next delimiter and reported once as [`DecodeError::TooLarge`]; empty records (two
/// delimiters in a row) are skipped silently, which is how either side resynchronises.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: [u8; MAX_ENCODED],
    len: usize,
    overflow: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_ENCODED],
            len: 0,
            overflow: false,
        }
    }

    /// Forget any partial record (after a port reopen, for example).
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Bytes of the current partial record held.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Feed one byte. Returns `Some` when `byte` ends a non-empty record: the parsed record
    /// (borrowing the decoder's buffer until the next call) or why it was rejected.
    pub fn push(&mut self, byte: u8) -> Option<Result<Record<'_>, DecodeError>> {
        if byte != 0 {
            if self.len < self.buf.len() {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflow = true;
            }
            return None;
        }
        let len = core::mem::replace(&mut self.len, 0);
        if core::mem::replace(&mut self.overflow, false) {
            return Some(Err(DecodeError::TooLarge));
        }
        if len == 0 {
            return None;
        }
        Some(Record::decode(&mut self.buf[..len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorCode, MAX_PAYLOAD};
    use std::prelude::v1::*;
    use std::{format, vec};

    fn feed(d: &mut Decoder, bytes: &[u8]) -> Vec<Result<String, DecodeError>> {
        let mut out = Vec::new();
        for &b in bytes {
            if let Some(r) = d.push(b) {
                out.push(r.map(|r| format!("{r:?}")));
            }
        }
        out
    }

    fn enc(r: Record<'_>) -> Vec<u8> {
        let mut out = [0u8; MAX_ENCODED];
        let n = r.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn splits_stream_and_skips_empty() {
        let mut s = vec![0, 0];
        s.extend(enc(Record::Hello { seq: 1 }));
        s.push(0);
        s.extend(enc(Record::Ack {
            seq: 2,
            error: Some(ErrorCode::Busy),
        }));
        let mut d = Decoder::new();
        let got = feed(&mut d, &s);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(Result::is_ok));
    }

    #[test]
    fn garbage_then_resync() {
        let mut s = b"ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n".to_vec();
        s.push(0);
        s.extend(enc(Record::Hello { seq: 9 }));
        let mut d = Decoder::new();
        let got = feed(&mut d, &s);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_err());
        assert_eq!(got[1], Ok(format!("{:?}", Record::Hello { seq: 9 })));
    }

    #[test]
    fn overflow_is_reported_once_and_recovers() {
        let mut s = vec![0x55u8; MAX_ENCODED * 3];
        s.push(0);
        s.extend(enc(Record::Tx {
            seq: 1,
            dst: [1; 6],
            payload: &[7; MAX_PAYLOAD],
        }));
        let mut d = Decoder::new();
        let got = feed(&mut d, &s);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Err(DecodeError::TooLarge));
        assert!(got[1].is_ok());
    }

    #[test]
    fn truncated_record_is_rejected() {
        let mut e = enc(Record::Tx {
            seq: 1,
            dst: [1; 6],
            payload: &[7; 40],
        });
        e.truncate(20);
        e.push(0);
        let mut d = Decoder::new();
        let got = feed(&mut d, &e);
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }
}
