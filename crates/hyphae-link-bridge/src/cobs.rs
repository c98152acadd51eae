//! Consistent Overhead Byte Stuffing: the byte-stuffing layer of the bridge framing.
//!
//! COBS rewrites a record so that it contains no `0x00` byte; a single `0x00` then ends each
//! record on the wire. Overhead is one byte per 254 bytes of input plus one.

/// Largest encoded length of `n` input bytes (without the trailing `0x00` delimiter).
pub const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// Errors from [`encode`] and [`decode_in_place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CobsError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// The input is not valid COBS (a zero byte, or a code that runs past the end).
    Invalid,
}

impl core::fmt::Display for CobsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "COBS output buffer too small",
            Self::Invalid => "invalid COBS data",
        })
    }
}

impl core::error::Error for CobsError {}

/// Encode `input` into `out` (no delimiter appended); returns the encoded length.
pub fn encode(input: &[u8], out: &mut [u8]) -> Result<usize, CobsError> {
    if out.len() < max_encoded_len(input.len()) {
        return Err(CobsError::BufferTooSmall);
    }
    let mut code_at = 0usize;
    let mut o = 1usize;
    let mut code = 1u8;
    for &b in input {
        if b == 0 {
            out[code_at] = code;
            code_at = o;
            o += 1;
            code = 1;
        } else {
            out[o] = b;
            o += 1;
            code += 1;
            if code == 0xff {
                out[code_at] = code;
                code_at = o;
                o += 1;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    Ok(o)
}

/// Decode COBS data (without its delimiter) in place; returns the decoded length. The decoded
/// bytes occupy `buf[..len]`.
pub fn decode_in_place(buf: &mut [u8]) -> Result<usize, CobsError> {
    let mut r = 0usize;
    let mut w = 0usize;
    while r < buf.len() {
        let code = buf[r];
        if code == 0 {
            return Err(CobsError::Invalid);
        }
        r += 1;
        let run = usize::from(code) - 1;
        let end = r.checked_add(run).ok_or(CobsError::Invalid)?;
        if end > buf.len() {
            return Err(CobsError::Invalid);
        }
        for i in r..end {
            let b = buf[i];
            if b == 0 {
                return Err(CobsError::Invalid);
            }
            buf[w] = b;
            w += 1;
        }
        r = end;
        if code != 0xff && r < buf.len() {
            buf[w] = 0;
            w += 1;
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::v1::*;

    fn round_trip(input: &[u8]) {
        let mut enc = [0u8; 1100];
        let n = encode(input, &mut enc).unwrap();
        assert!(n <= max_encoded_len(input.len()));
        assert!(!enc[..n].contains(&0));
        let len = decode_in_place(&mut enc[..n]).unwrap();
        assert_eq!(&enc[..len], input);
    }

    #[test]
    fn known_vectors() {
        // Vectors from the COBS paper / common usage.
        let mut out = [0u8; 16];
        let n = encode(&[0x00], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x01, 0x01]);
        let n = encode(&[0x11, 0x22, 0x00, 0x33], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x03, 0x11, 0x22, 0x02, 0x33]);
        let n = encode(&[], &mut out).unwrap();
        assert_eq!(&out[..n], &[0x01]);
    }

    #[test]
    fn long_runs() {
        for len in [0, 1, 253, 254, 255, 508, 509, 1000] {
            let v: [u8; 1000] = core::array::from_fn(|i| (i % 255) as u8 + 1);
            round_trip(&v[..len]);
            round_trip(&[0u8; 1000][..len]);
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode_in_place(&mut [0x05, 1, 2]), Err(CobsError::Invalid));
        assert_eq!(decode_in_place(&mut [0x02, 0]), Err(CobsError::Invalid));
        assert_eq!(decode_in_place(&mut [0x00]), Err(CobsError::Invalid));
        assert_eq!(
            encode(&[1, 2, 3], &mut [0u8; 3]),
            Err(CobsError::BufferTooSmall)
        );
    }
}
