//! Binary frames through the AT text protocol: the CRLF-free block encoding
//! (`docs/spec/rylr998.md` §2).
//!
//! `AT+SEND` and `+RCV` lines end with `\r\n`, so a frame must not contain CR or LF. The
//! encoding writes the frame as blocks: a code byte `0x20 + 3·run + kind` followed by `run`
//! (0..=70) literal bytes, where `kind` says what follows the run in the frame: 0 = LF,
//! 1 = CR, 2 = nothing. Code bytes are `0x20..=0xF4`, never CR or LF; CR and LF in the frame
//! cost nothing (the code byte replaces them), and every 70 other bytes cost one code byte.
//! A 240-byte datagram therefore always carries at least [`MAX_FRAME`] = 236 frame bytes.

/// Longest literal run per block.
pub const MAX_RUN: usize = 70;
/// Largest datagram the module sends.
pub const MAX_DATAGRAM: usize = 240;
/// Largest hyphae frame that always fits one datagram after encoding.
pub const MAX_FRAME: usize = 236;

const BASE: u8 = 0x20;

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A code byte outside `0x20..=0xF4`.
    BadCode,
    /// A block announces more literal bytes than remain.
    Truncated,
    /// The output buffer is too small.
    TooLong,
    /// A block the encoder never writes (every frame has exactly one encoding).
    NonCanonical,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::BadCode => "bad code byte",
            Self::Truncated => "block runs past the end",
            Self::TooLong => "decoded frame too long for the buffer",
            Self::NonCanonical => "non-canonical block",
        })
    }
}

impl core::error::Error for DecodeError {}

/// Encoded length of `frame`.
pub fn encoded_len(frame: &[u8]) -> usize {
    let mut n = 0;
    let mut run = 0;
    for &b in frame {
        if b == b'\n' || b == b'\r' {
            n += 1 + run;
            run = 0;
        } else {
            run += 1;
            if run == MAX_RUN {
                n += 1 + run;
                run = 0;
            }
        }
    }
    if run > 0 {
        n += 1 + run;
    }
    n
}

/// Encode `frame` into `out`; returns the length, or `None` if `out` is too short.
pub fn encode(frame: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut w = 0;
    let mut start = 0;
    let emit = |out: &mut [u8], lit: &[u8], kind: u8, w: &mut usize| -> Option<()> {
        // lit.len() <= MAX_RUN (70): 0x20 + 3 * 70 + 2 = 0xF4 fits a byte.
        *out.get_mut(*w)? = BASE + 3 * lit.len() as u8 + kind;
        out.get_mut(*w + 1..*w + 1 + lit.len())?
            .copy_from_slice(lit);
        *w += 1 + lit.len();
        Some(())
    };
    for (i, &b) in frame.iter().enumerate() {
        let kind = match b {
            b'\n' => 0,
            b'\r' => 1,
            _ => {
                if i + 1 - start == MAX_RUN {
                    emit(out, &frame[start..=i], 2, &mut w)?;
                    start = i + 1;
                }
                continue;
            }
        };
        emit(out, &frame[start..i], kind, &mut w)?;
        start = i + 1;
    }
    if start < frame.len() {
        emit(out, &frame[start..], 2, &mut w)?;
    }
    Some(w)
}

/// Decode a datagram into `out`; returns the frame length.
pub fn decode(data: &[u8], out: &mut [u8]) -> Result<usize, DecodeError> {
    let mut r = 0;
    let mut w = 0;
    while r < data.len() {
        let code = data[r];
        if !(BASE..=BASE + 3 * MAX_RUN as u8 + 2).contains(&code) {
            return Err(DecodeError::BadCode);
        }
        let x = code - BASE;
        let run = usize::from(x / 3);
        let last = r + 1 + run >= data.len();
        let canonical = match x % 3 {
            2 => run == MAX_RUN || (last && run > 0),
            _ => run < MAX_RUN,
        };
        if !canonical {
            return Err(DecodeError::NonCanonical);
        }
        let lit = data.get(r + 1..r + 1 + run).ok_or(DecodeError::Truncated)?;
        // The encoder never puts a line ending into a literal run.
        if lit.iter().any(|&b| b == b'\n' || b == b'\r') {
            return Err(DecodeError::NonCanonical);
        }
        out.get_mut(w..w + run)
            .ok_or(DecodeError::TooLong)?
            .copy_from_slice(lit);
        w += run;
        r += 1 + run;
        let tail = match x % 3 {
            0 => Some(b'\n'),
            1 => Some(b'\r'),
            _ => None,
        };
        if let Some(t) = tail {
            *out.get_mut(w).ok_or(DecodeError::TooLong)? = t;
            w += 1;
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_example() {
        // "hi\r\nok" → [0x26 'h' 'i'] [0x21] [0x28 'o' 'k']
        let mut out = [0u8; 16];
        let n = encode(b"hi\r\nok", &mut out).unwrap();
        assert_eq!(&out[..n], &[0x27, b'h', b'i', 0x20, 0x28, b'o', b'k']);
        let mut back = [0u8; 16];
        assert_eq!(decode(&out[..n], &mut back).unwrap(), 6);
        assert_eq!(&back[..6], b"hi\r\nok");
    }

    #[test]
    fn worst_case_fits() {
        let frame = [0x41u8; MAX_FRAME];
        assert_eq!(encoded_len(&frame), MAX_DATAGRAM);
        assert_eq!(encoded_len(&[b'\n'; MAX_DATAGRAM]), MAX_DATAGRAM);
    }

    #[test]
    fn rejects_bad_input() {
        let mut out = [0u8; 8];
        assert_eq!(decode(&[0x0a], &mut out), Err(DecodeError::BadCode));
        assert_eq!(decode(&[0x26, 1], &mut out), Err(DecodeError::Truncated));
        assert_eq!(
            decode(&[0xf4; 3], &mut [0u8; 2]),
            Err(DecodeError::Truncated)
        );
    }

    /// A line ending inside a literal run decodes, but never re-encodes the same way (found by
    /// the `rylr998_at` fuzz target).
    #[test]
    fn line_endings_inside_literals_are_not_canonical() {
        let mut out = [0u8; 8];
        assert_eq!(decode(b"#\r", &mut out), Err(DecodeError::NonCanonical));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn round_trip(frame in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..=MAX_FRAME)) {
            let mut enc = [0u8; 512];
            let n = encode(&frame, &mut enc).unwrap();
            prop_assert_eq!(n, encoded_len(&frame));
            prop_assert!(n <= MAX_DATAGRAM);
            prop_assert!(!enc[..n].contains(&b'\r') && !enc[..n].contains(&b'\n'));
            let mut dec = [0u8; 512];
            let m = decode(&enc[..n], &mut dec).unwrap();
            prop_assert_eq!(&dec[..m], &frame[..]);
        }

        #[test]
        fn decode_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut out = [0u8; 300];
            let _ = decode(&data, &mut out);
        }
    }
}
