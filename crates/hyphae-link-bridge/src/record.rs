//! Bridge records: the typed messages carried between a host and the ESP-NOW bridge firmware.
//!
//! On the wire each record is `type | body | crc16-le`, COBS-stuffed and ended by `0x00`; see
//! `docs/spec/bridge.md`, which this module implements.

use crate::cobs;

/// Version of the bridge protocol this crate speaks (reported in [`Status::version`]).
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest ESP-NOW payload a record carries (ESP-NOW v1.0).
pub const MAX_PAYLOAD: usize = 250;

/// Largest unstuffed record: the RX record, `1 + 6 + 1 + 1 + 250`, plus the 2-byte CRC.
pub const MAX_RECORD: usize = 1 + 6 + 1 + 1 + MAX_PAYLOAD + 2;

/// Largest record on the wire: COBS-stuffed [`MAX_RECORD`] plus the `0x00` delimiter.
pub const MAX_ENCODED: usize = cobs::max_encoded_len(MAX_RECORD) + 1;

/// A 6-byte ESP-NOW MAC address.
pub type Mac = [u8; 6];

/// The ESP-NOW broadcast MAC.
pub const BROADCAST_MAC: Mac = [0xff; 6];

/// Record type bytes (`docs/spec/bridge.md` §3).
pub mod kind {
    /// Host → bridge: send a frame.
    pub const TX: u8 = 0x01;
    /// Host → bridge: set the radio channel.
    pub const CONFIG: u8 = 0x02;
    /// Host → bridge: ask for a [`STATUS`].
    pub const HELLO: u8 = 0x03;
    /// Host → bridge: register (or refresh) a unicast peer.
    pub const PEER: u8 = 0x04;
    /// Bridge → host: a received frame.
    pub const RX: u8 = 0x81;
    /// Bridge → host: the outcome of a TX, CONFIG or PEER record.
    pub const ACK: u8 = 0x82;
    /// Bridge → host: state and counters (answer to HELLO, and unsolicited after a reset).
    pub const STATUS: u8 = 0x83;
    /// Bridge → host: a record from the host could not be processed.
    pub const ERROR: u8 = 0x84;
}

/// Error codes carried by [`Record::Ack`] and [`Record::Error`] (`docs/spec/bridge.md` §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A record's CRC did not match.
    BadCrc,
    /// A record was too short, too long for its type, or not valid COBS.
    Malformed,
    /// Unknown record type.
    UnknownType,
    /// A payload longer than [`MAX_PAYLOAD`].
    TooLarge,
    /// A channel outside 1..=13 (14 is Japan-only 802.11b and always rejected).
    InvalidChannel,
    /// The unicast frame was not acknowledged by the peer's MAC layer.
    NoAck,
    /// The radio refused to register the peer.
    PeerTable,
    /// The bridge is busy (its queue is full); retry later.
    Busy,
    /// Any other radio driver failure.
    Radio,
    /// A code this version does not know (kept so that parsing never fails on it).
    Other(u8),
}

impl ErrorCode {
    /// The code's byte on the wire.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::BadCrc => 1,
            Self::Malformed => 2,
            Self::UnknownType => 3,
            Self::TooLarge => 4,
            Self::InvalidChannel => 5,
            Self::NoAck => 6,
            Self::PeerTable => 7,
            Self::Busy => 8,
            Self::Radio => 9,
            Self::Other(b) => b,
        }
    }

    /// The code for a byte; 0 is not an error code (it means "ok" in an ACK).
    pub const fn from_u8(b: u8) -> Self {
        match b {
            1 => Self::BadCrc,
            2 => Self::Malformed,
            3 => Self::UnknownType,
            4 => Self::TooLarge,
            5 => Self::InvalidChannel,
            6 => Self::NoAck,
            7 => Self::PeerTable,
            8 => Self::Busy,
            9 => Self::Radio,
            b => Self::Other(b),
        }
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadCrc => f.write_str("bad CRC"),
            Self::Malformed => f.write_str("malformed record"),
            Self::UnknownType => f.write_str("unknown record type"),
            Self::TooLarge => f.write_str("payload too large"),
            Self::InvalidChannel => f.write_str("invalid channel"),
            Self::NoAck => f.write_str("no MAC acknowledgement"),
            Self::PeerTable => f.write_str("peer registration refused"),
            Self::Busy => f.write_str("bridge busy"),
            Self::Radio => f.write_str("radio driver error"),
            Self::Other(b) => write!(f, "bridge error {b}"),
        }
    }
}

impl core::error::Error for ErrorCode {}

/// Bits of [`Status::flags`].
pub mod status_flags {
    /// The bridge has just booted (first STATUS after a reset): the host must re-send its CONFIG.
    pub const BOOT: u8 = 0x01;
}

/// Bits of the RX record's flags byte.
pub mod rx_flags {
    /// The frame was sent to the broadcast address.
    pub const BROADCAST: u8 = 0x01;
}

/// The bridge's state and counters ([`kind::STATUS`] body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// The HELLO's sequence number this answers; 0 when unsolicited.
    pub seq: u8,
    /// [`PROTOCOL_VERSION`] of the firmware.
    pub version: u8,
    /// [`status_flags`].
    pub flags: u8,
    /// Current radio channel.
    pub channel: u8,
    /// The bridge radio's own MAC.
    pub mac: Mac,
    /// Unicast peers currently registered in the radio's peer table.
    pub peers: u8,
    /// Largest payload the bridge accepts.
    pub max_payload: u8,
    /// Frames received from the radio since boot (wrapping).
    pub rx_frames: u32,
    /// Frames sent on the radio since boot (wrapping).
    pub tx_frames: u32,
    /// Records from the host dropped (bad CRC, malformed, overflow) plus radio frames dropped
    /// because the host link was full, since boot (wrapping).
    pub dropped: u32,
}

impl Status {
    /// Body length after the type byte.
    const BODY: usize = 1 + 1 + 1 + 1 + 6 + 1 + 1 + 4 + 4 + 4;

    /// Whether this is the first STATUS after a bridge reset.
    pub const fn is_boot(&self) -> bool {
        self.flags & status_flags::BOOT != 0
    }
}

/// One bridge record, borrowing its payload from the buffer it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// Host → bridge: send `payload` to `dst` (the broadcast MAC or a unicast peer).
    Tx {
        /// Sequence number echoed by the ACK (any value; the host picks them).
        seq: u8,
        /// Destination MAC.
        dst: Mac,
        /// The frame, 1..=[`MAX_PAYLOAD`] bytes.
        payload: &'a [u8],
    },
    /// Host → bridge: tune to `channel`.
    Config {
        /// Echoed by the ACK.
        seq: u8,
        /// Wi-Fi channel, 1..=13.
        channel: u8,
    },
    /// Host → bridge: ask for a STATUS.
    Hello {
        /// Echoed by the STATUS.
        seq: u8,
    },
    /// Host → bridge: register or refresh a unicast peer.
    Peer {
        /// Echoed by the ACK.
        seq: u8,
        /// The peer's MAC.
        mac: Mac,
    },
    /// Bridge → host: a frame heard on the radio.
    Rx {
        /// Sender MAC.
        src: Mac,
        /// Received signal strength in dBm.
        rssi: i8,
        /// [`rx_flags`].
        flags: u8,
        /// The frame, 0..=[`MAX_PAYLOAD`] bytes.
        payload: &'a [u8],
    },
    /// Bridge → host: outcome of the host record with sequence number `seq`.
    Ack {
        /// The acknowledged record's sequence number.
        seq: u8,
        /// `None` on success.
        error: Option<ErrorCode>,
    },
    /// Bridge → host: state and counters.
    Status(Status),
    /// Bridge → host: a record could not be processed (no sequence number was readable).
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// The offending record's type byte, or 0 when unknown.
        record_type: u8,
    },
}

/// Errors from [`Record::parse`] and the stream [`crate::Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The record between two delimiters is not valid COBS.
    Cobs,
    /// Fewer than 3 bytes (type and CRC).
    TooShort,
    /// CRC mismatch.
    BadCrc,
    /// Unknown type byte.
    UnknownType(u8),
    /// The body length does not fit the type.
    BadLength(u8),
    /// A payload longer than [`MAX_PAYLOAD`] or a record longer than [`MAX_ENCODED`] (the
    /// stream decoder skips to the next delimiter).
    TooLarge,
    /// An ACK or ERROR carried the reserved code 0 where an error is required.
    BadCode,
}

impl DecodeError {
    /// The [`ErrorCode`] a bridge reports for this failure.
    pub const fn code(self) -> ErrorCode {
        match self {
            Self::BadCrc => ErrorCode::BadCrc,
            Self::UnknownType(_) => ErrorCode::UnknownType,
            Self::TooLarge => ErrorCode::TooLarge,
            Self::Cobs | Self::TooShort | Self::BadLength(_) | Self::BadCode => {
                ErrorCode::Malformed
            }
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Cobs => f.write_str("invalid COBS stuffing"),
            Self::TooShort => f.write_str("record too short"),
            Self::BadCrc => f.write_str("record CRC mismatch"),
            Self::UnknownType(t) => write!(f, "unknown record type {t:#04x}"),
            Self::BadLength(t) => write!(f, "bad body length for record type {t:#04x}"),
            Self::TooLarge => f.write_str("record too large"),
            Self::BadCode => f.write_str("error code 0 where an error is required"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Errors from [`Record::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// The output buffer is smaller than the encoded record (use [`MAX_ENCODED`]).
    BufferTooSmall,
    /// A payload longer than [`MAX_PAYLOAD`], or an empty TX payload.
    BadPayload,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "output buffer too small",
            Self::BadPayload => "payload empty or longer than 250 bytes",
        })
    }
}

impl core::error::Error for EncodeError {}

/// CRC-16/IBM-3740 (a.k.a. CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xor-out).
pub const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

fn mac_at(b: &[u8]) -> Mac {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[..6]);
    m
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl<'a> Record<'a> {
    /// The record's type byte ([`kind`]).
    pub const fn kind(&self) -> u8 {
        match self {
            Self::Tx { .. } => kind::TX,
            Self::Config { .. } => kind::CONFIG,
            Self::Hello { .. } => kind::HELLO,
            Self::Peer { .. } => kind::PEER,
            Self::Rx { .. } => kind::RX,
            Self::Ack { .. } => kind::ACK,
            Self::Status(_) => kind::STATUS,
            Self::Error { .. } => kind::ERROR,
        }
    }

    /// Write the unstuffed record (`type | body`, no CRC) into `out`; returns its length.
    fn write_raw(&self, out: &mut [u8; MAX_RECORD]) -> Result<usize, EncodeError> {
        out[0] = self.kind();
        let body = &mut out[1..];
        let n = match *self {
            Self::Tx { seq, dst, payload } => {
                if payload.is_empty() || payload.len() > MAX_PAYLOAD {
                    return Err(EncodeError::BadPayload);
                }
                body[0] = seq;
                body[1..7].copy_from_slice(&dst);
                body[7..7 + payload.len()].copy_from_slice(payload);
                7 + payload.len()
            }
            Self::Config { seq, channel } => {
                body[0] = seq;
                body[1] = channel;
                2
            }
            Self::Hello { seq } => {
                body[0] = seq;
                1
            }
            Self::Peer { seq, mac } => {
                body[0] = seq;
                body[1..7].copy_from_slice(&mac);
                7
            }
            Self::Rx {
                src,
                rssi,
                flags,
                payload,
            } => {
                if payload.len() > MAX_PAYLOAD {
                    return Err(EncodeError::BadPayload);
                }
                body[..6].copy_from_slice(&src);
                body[6] = rssi.to_le_bytes()[0];
                body[7] = flags;
                body[8..8 + payload.len()].copy_from_slice(payload);
                8 + payload.len()
            }
            Self::Ack { seq, error } => {
                body[0] = seq;
                body[1] = error.map_or(0, ErrorCode::to_u8);
                2
            }
            Self::Status(s) => {
                body[0] = s.seq;
                body[1] = s.version;
                body[2] = s.flags;
                body[3] = s.channel;
                body[4..10].copy_from_slice(&s.mac);
                body[10] = s.peers;
                body[11] = s.max_payload;
                body[12..16].copy_from_slice(&s.rx_frames.to_le_bytes());
                body[16..20].copy_from_slice(&s.tx_frames.to_le_bytes());
                body[20..24].copy_from_slice(&s.dropped.to_le_bytes());
                Status::BODY
            }
            Self::Error { code, record_type } => {
                body[0] = code.to_u8();
                body[1] = record_type;
                2
            }
        };
        Ok(1 + n)
    }

    /// Encode the record for the wire: COBS-stuffed `type | body | crc16-le` followed by the
    /// `0x00` delimiter. Returns the number of bytes written to `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut raw = [0u8; MAX_RECORD];
        let n = self.write_raw(&mut raw)?;
        let crc = CRC.checksum(&raw[..n]);
        raw[n..n + 2].copy_from_slice(&crc.to_le_bytes());
        let len = cobs::encode(&raw[..n + 2], out).map_err(|_| EncodeError::BufferTooSmall)?;
        let end = out.get_mut(len).ok_or(EncodeError::BufferTooSmall)?;
        *end = 0;
        Ok(len + 1)
    }

    /// Parse an unstuffed record (`type | body | crc16-le`, the COBS layer already removed).
    /// Never panics, whatever the input.
    pub fn parse(raw: &'a [u8]) -> Result<Self, DecodeError> {
        if raw.len() < 3 {
            return Err(DecodeError::TooShort);
        }
        if raw.len() > MAX_RECORD {
            return Err(DecodeError::TooLarge);
        }
        let (data, crc) = raw.split_at(raw.len() - 2);
        if CRC.checksum(data).to_le_bytes() != [crc[0], crc[1]] {
            return Err(DecodeError::BadCrc);
        }
        let t = data[0];
        let b = &data[1..];
        let exact = |n: usize| {
            if b.len() == n {
                Ok(())
            } else {
                Err(DecodeError::BadLength(t))
            }
        };
        match t {
            kind::TX => {
                if b.len() < 8 {
                    return Err(DecodeError::BadLength(t));
                }
                let payload = &b[7..];
                if payload.len() > MAX_PAYLOAD {
                    return Err(DecodeError::TooLarge);
                }
                Ok(Self::Tx {
                    seq: b[0],
                    dst: mac_at(&b[1..]),
                    payload,
                })
            }
            kind::CONFIG => {
                exact(2)?;
                Ok(Self::Config {
                    seq: b[0],
                    channel: b[1],
                })
            }
            kind::HELLO => {
                exact(1)?;
                Ok(Self::Hello { seq: b[0] })
            }
            kind::PEER => {
                exact(7)?;
                Ok(Self::Peer {
                    seq: b[0],
                    mac: mac_at(&b[1..]),
                })
            }
            kind::RX => {
                if b.len() < 8 {
                    return Err(DecodeError::BadLength(t));
                }
                let payload = &b[8..];
                if payload.len() > MAX_PAYLOAD {
                    return Err(DecodeError::TooLarge);
                }
                Ok(Self::Rx {
                    src: mac_at(b),
                    rssi: i8::from_le_bytes([b[6]]),
                    flags: b[7],
                    payload,
                })
            }
            kind::ACK => {
                exact(2)?;
                Ok(Self::Ack {
                    seq: b[0],
                    error: match b[1] {
                        0 => None,
                        c => Some(ErrorCode::from_u8(c)),
                    },
                })
            }
            kind::STATUS => {
                exact(Status::BODY)?;
                Ok(Self::Status(Status {
                    seq: b[0],
                    version: b[1],
                    flags: b[2],
                    channel: b[3],
                    mac: mac_at(&b[4..]),
                    peers: b[10],
                    max_payload: b[11],
                    rx_frames: u32_at(&b[12..]),
                    tx_frames: u32_at(&b[16..]),
                    dropped: u32_at(&b[20..]),
                }))
            }
            kind::ERROR => {
                exact(2)?;
                if b[0] == 0 {
                    return Err(DecodeError::BadCode);
                }
                Ok(Self::Error {
                    code: ErrorCode::from_u8(b[0]),
                    record_type: b[1],
                })
            }
            other => Err(DecodeError::UnknownType(other)),
        }
    }

    /// Decode one stuffed record in place (COBS data without its delimiter) and parse it.
    pub fn decode(encoded: &'a mut [u8]) -> Result<Self, DecodeError> {
        if encoded.len() > MAX_ENCODED {
            return Err(DecodeError::TooLarge);
        }
        let n = cobs::decode_in_place(encoded).map_err(|_| DecodeError::Cobs)?;
        Self::parse(&encoded[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::prelude::v1::*;

    fn rt(r: Record<'_>) {
        let mut out = [0u8; MAX_ENCODED];
        let n = r.encode(&mut out).unwrap();
        assert_eq!(out[n - 1], 0);
        assert!(!out[..n - 1].contains(&0));
        let mut buf = out;
        assert_eq!(Record::decode(&mut buf[..n - 1]).unwrap(), r);
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(CRC.checksum(b"123456789"), 0x29b1);
    }

    #[test]
    fn every_kind_round_trips() {
        let big = [0u8; MAX_PAYLOAD];
        rt(Record::Tx {
            seq: 7,
            dst: BROADCAST_MAC,
            payload: &big,
        });
        rt(Record::Config { seq: 1, channel: 6 });
        rt(Record::Hello { seq: 255 });
        rt(Record::Peer {
            seq: 2,
            mac: [1, 2, 3, 4, 5, 6],
        });
        rt(Record::Rx {
            src: [9; 6],
            rssi: -71,
            flags: rx_flags::BROADCAST,
            payload: &big,
        });
        rt(Record::Rx {
            src: [9; 6],
            rssi: 0,
            flags: 0,
            payload: &[],
        });
        rt(Record::Ack {
            seq: 3,
            error: Some(ErrorCode::NoAck),
        });
        rt(Record::Ack {
            seq: 3,
            error: None,
        });
        rt(Record::Status(Status {
            seq: 0,
            version: PROTOCOL_VERSION,
            flags: status_flags::BOOT,
            channel: 1,
            mac: [0x24, 0x6f, 0x28, 1, 2, 3],
            peers: 19,
            max_payload: 250,
            rx_frames: u32::MAX,
            tx_frames: 1,
            dropped: 0x0102_0304,
        }));
        rt(Record::Error {
            code: ErrorCode::Other(200),
            record_type: 0x42,
        });
    }

    fn hex(r: Record<'_>) -> String {
        let mut out = [0u8; MAX_ENCODED];
        let n = r.encode(&mut out).unwrap();
        let v: Vec<String> = out[..n].iter().map(|b| format!("{b:02X}")).collect();
        v.join(" ")
    }

    #[test]
    fn spec_worked_examples() {
        // docs/spec/bridge.md §7, byte for byte.
        assert_eq!(hex(Record::Hello { seq: 1 }), "05 03 01 7D 58 00");
        assert_eq!(
            hex(Record::Config { seq: 2, channel: 6 }),
            "06 02 02 06 58 A4 00"
        );
        assert_eq!(
            hex(Record::Tx {
                seq: 3,
                dst: BROADCAST_MAC,
                payload: b"hi"
            }),
            "0D 01 03 FF FF FF FF FF FF 68 69 DA 67 00"
        );
        assert_eq!(
            hex(Record::Ack {
                seq: 3,
                error: None
            }),
            "03 82 03 03 F5 CC 00"
        );
        assert_eq!(
            hex(Record::Ack {
                seq: 3,
                error: Some(ErrorCode::NoAck)
            }),
            "06 82 03 06 33 AC 00"
        );
        assert_eq!(
            hex(Record::Rx {
                src: [0x24, 0x6f, 0x28, 1, 2, 3],
                rssi: -60,
                flags: rx_flags::BROADCAST,
                payload: b"hi"
            }),
            "0E 81 24 6F 28 01 02 03 C4 01 68 69 8D F8 00"
        );
        assert_eq!(
            hex(Record::Error {
                code: ErrorCode::BadCrc,
                record_type: kind::TX
            }),
            "06 84 01 01 16 08 00"
        );
    }

    #[test]
    fn max_record_fits() {
        let p = [0xffu8; MAX_PAYLOAD];
        let r = Record::Rx {
            src: [0xff; 6],
            rssi: -1,
            flags: 0xff,
            payload: &p,
        };
        let mut out = [0u8; MAX_ENCODED];
        assert_eq!(r.encode(&mut out).unwrap(), MAX_ENCODED);
        assert_eq!(
            r.encode(&mut [0u8; MAX_ENCODED - 1]),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(
            Record::Tx {
                seq: 0,
                dst: [0; 6],
                payload: &[]
            }
            .encode(&mut [0u8; 64]),
            Err(EncodeError::BadPayload)
        );
        assert_eq!(Record::parse(&[1, 2]), Err(DecodeError::TooShort));
        assert_eq!(Record::parse(&[3, 1, 0, 0]), Err(DecodeError::BadCrc));
        let mut raw = [0x77u8, 0, 0];
        let c = CRC.checksum(&raw[..1]).to_le_bytes();
        raw[1..].copy_from_slice(&c);
        assert_eq!(Record::parse(&raw), Err(DecodeError::UnknownType(0x77)));
    }
}
