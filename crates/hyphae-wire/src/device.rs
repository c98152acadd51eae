//! The device–gateway protocol of the ESP-NOW design note (seed 004; `device.md`).
//!
//! Carried as the payload of the `hyphae/device` application. Every packet starts with a
//! fixed header: byte 0 holds the packet type in its high nibble and type-specific flags in its
//! low nibble; then the remaining length as an MQTT-style variable-length integer (one byte for
//! 0..=127, so short packets have exactly seed 004's two-byte header). Integers are
//! little-endian.
//!
//! ```text
//! byte 0: bits 7..4 packet type | bits 3..0 flags
//! bytes 1..: remaining length (varint, 1..=4 bytes, minimal) | body of that many bytes
//! ```
//!
//! [`Packet`] is the view over the bytes, [`Repr`] the meaning (an enum over the packet types).

use core::fmt;

use crate::cursor::{Reader, Writer};
use crate::{Error, Result};

/// The application name the protocol runs under.
pub const APP_NAME: &str = "hyphae/device";
/// Protocol version carried in CONNECT.
pub const PROTOCOL_VERSION: u8 = 1;
/// Longest device name in CONNECT.
pub const MAX_NAME: usize = 32;
/// Longest topic suffix in PUBLISH.
pub const MAX_TOPIC: usize = 64;
/// Largest remaining length (four varint bytes, as in MQTT).
pub const MAX_REMAINING: usize = 268_435_455;

/// Packet types (high nibble of byte 0). 0 is reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Connection request, node to gateway, by broadcast.
    Connect = 1,
    /// Connect acknowledgement, gateway to node, unicast.
    ConnAck = 2,
    /// Publish, node to gateway (or gateway to node for downlink), unicast.
    Publish = 3,
}

/// CONNACK return codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReturnCode {
    /// Connection accepted.
    Accepted = 0,
    /// The gateway does not speak the requested protocol version.
    UnsupportedVersion = 1,
    /// The device is not allowed on this gateway.
    NotAuthorized = 2,
    /// The gateway has no room for another device now.
    Busy = 3,
}

impl TryFrom<u8> for ReturnCode {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Ok(match v {
            0 => Self::Accepted,
            1 => Self::UnsupportedVersion,
            2 => Self::NotAuthorized,
            3 => Self::Busy,
            _ => return Err(Error::Malformed),
        })
    }
}

/// PUBLISH quality of service towards the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qos {
    /// At most once.
    AtMostOnce,
    /// At least once; the packet carries a packet id.
    AtLeastOnce,
}

/// Decode the remaining-length varint at the front of `b`: `(value, bytes used)`.
fn read_varint(b: &[u8]) -> Result<(usize, usize)> {
    let mut value = 0usize;
    for i in 0..4 {
        let byte = *b.get(i).ok_or(Error::Truncated)?;
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // Minimal encoding only: a trailing zero group is an overlong form.
            if i > 0 && byte == 0 {
                return Err(Error::BadLength);
            }
            return Ok((value, i + 1));
        }
    }
    Err(Error::BadLength)
}

packet_view! {
    /// A read/write view over one device–gateway packet.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if the buffer ends before the fixed header or the remaining length it
    /// announces, `Err(BadLength)` for a malformed varint or bytes beyond the remaining
    /// length.
    pub fn check_len(&self) -> Result<()> {
        let b = self.bytes();
        if b.is_empty() {
            return Err(Error::Truncated);
        }
        let (remaining, n) = read_varint(&b[1..])?;
        let want = 1 + n + remaining;
        if b.len() < want {
            Err(Error::Truncated)
        } else if b.len() > want {
            Err(Error::BadLength)
        } else {
            Ok(())
        }
    }
    /// The raw packet type (high nibble of byte 0).
    pub fn packet_type(&self) -> u8 {
        self.bytes()[0] >> 4
    }
    /// The type-specific flags (low nibble of byte 0).
    pub fn flags(&self) -> u8 {
        self.bytes()[0] & 0x0f
    }
    /// Length of the fixed header (type byte and varint).
    pub fn header_len(&self) -> usize {
        self.bytes().len() - self.body().len()
    }
    /// The body: the `remaining length` bytes after the fixed header.
    pub fn body(&self) -> &[u8] {
        let b = self.bytes();
        match read_varint(&b[1..]) {
            Ok((_, n)) => &b[1 + n..],
            Err(_) => &[],
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Write the fixed header for a body of `remaining` bytes; returns its length.
    /// `Err(TooLong)` if the buffer is too short or `remaining` exceeds [`MAX_REMAINING`].
    pub fn set_header(&mut self, packet_type: u8, flags: u8, remaining: usize) -> Result<usize> {
        if remaining > MAX_REMAINING {
            return Err(Error::TooLong);
        }
        let mut w = Writer::new(self.bytes_mut());
        w.u8((packet_type << 4) | (flags & 0x0f))?;
        let mut v = remaining;
        loop {
            // `v & 0x7f` fits a byte.
            let mut b = (v & 0x7f) as u8;
            v >>= 7;
            if v > 0 {
                b |= 0x80;
            }
            w.u8(b)?;
            if v == 0 {
                break;
            }
        }
        Ok(w.pos())
    }
}

/// A device–gateway packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr<'a> {
    /// CONNECT: a device announces itself to gateways.
    Connect {
        /// Keep-alive in seconds: the gateway marks the device offline after 1.5 × this
        /// without traffic.
        keepalive: u16,
        /// The device's MAC (the `/device/<mac>` topic segment).
        mac: [u8; 6],
        /// Optional human-readable name (≤ 32 bytes UTF-8).
        name: Option<&'a str>,
    },
    /// CONNACK: the gateway's answer.
    ConnAck {
        /// Accepted or why not.
        code: ReturnCode,
        /// Session id chosen by the gateway.
        session: u16,
    },
    /// PUBLISH: a message under `/device/<mac>/<topic>`.
    Publish {
        /// QoS towards the broker.
        qos: Qos,
        /// Whether the broker should retain it.
        retain: bool,
        /// Packet id (QoS 1 only; 0 otherwise).
        packet_id: u16,
        /// Topic suffix (≤ 64 bytes UTF-8, no `+` or `#`).
        topic: &'a str,
        /// Payload.
        payload: &'a [u8],
    },
}

fn varint_len(v: usize) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

fn valid_topic(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOPIC && !t.contains(['+', '#', '\0'])
}

impl<'a> Repr<'a> {
    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect { .. } => PacketType::Connect,
            Self::ConnAck { .. } => PacketType::ConnAck,
            Self::Publish { .. } => PacketType::Publish,
        }
    }

    fn flags(&self) -> u8 {
        match self {
            Self::Connect { name, .. } => u8::from(name.is_some()),
            Self::ConnAck { .. } => 0,
            Self::Publish { qos, retain, .. } => {
                u8::from(*qos == Qos::AtLeastOnce) | (u8::from(*retain) << 1)
            }
        }
    }

    fn remaining_len(&self) -> usize {
        match self {
            Self::Connect { name, .. } => 9 + name.map_or(0, |n| 1 + n.len()),
            Self::ConnAck { .. } => 3,
            Self::Publish {
                qos,
                topic,
                payload,
                ..
            } => usize::from(*qos == Qos::AtLeastOnce) * 2 + 1 + topic.len() + payload.len(),
        }
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        let rem = self.remaining_len();
        1 + varint_len(rem) + rem
    }

    /// Parse one packet occupying the whole view.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        let flags = packet.flags();
        let whole = packet.whole();
        let mut r = Reader::new(&whole[packet.header_len()..]);
        let p = match packet.packet_type() {
            1 => {
                if flags & !1 != 0 || r.u8()? != PROTOCOL_VERSION {
                    return Err(Error::Malformed);
                }
                let keepalive = r.u16()?;
                let mac = r.array()?;
                let name = if flags & 1 != 0 {
                    let n = usize::from(r.u8()?);
                    if n == 0 || n > MAX_NAME {
                        return Err(Error::BadLength);
                    }
                    Some(core::str::from_utf8(r.take(n)?).map_err(|_| Error::BadUtf8)?)
                } else {
                    None
                };
                Self::Connect {
                    keepalive,
                    mac,
                    name,
                }
            }
            2 => {
                if flags != 0 {
                    return Err(Error::Malformed);
                }
                Self::ConnAck {
                    code: ReturnCode::try_from(r.u8()?)?,
                    session: r.u16()?,
                }
            }
            3 => {
                if flags & !3 != 0 {
                    return Err(Error::Malformed);
                }
                let qos = if flags & 1 != 0 {
                    Qos::AtLeastOnce
                } else {
                    Qos::AtMostOnce
                };
                let packet_id = if qos == Qos::AtLeastOnce { r.u16()? } else { 0 };
                let n = usize::from(r.u8()?);
                let topic = core::str::from_utf8(r.take(n)?).map_err(|_| Error::BadUtf8)?;
                if !valid_topic(topic) {
                    return Err(Error::Malformed);
                }
                Self::Publish {
                    qos,
                    retain: flags & 2 != 0,
                    packet_id,
                    topic,
                    payload: r.rest(),
                }
            }
            _ => return Err(Error::UnknownKind),
        };
        if r.remaining() != 0 {
            return Err(Error::BadLength);
        }
        Ok(p)
    }

    /// Emit into `packet`. `Err(Malformed)` for an invalid topic, `Err(TooLong)` for a name
    /// of more than 32 bytes or a buffer shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        ensure_room!(packet, self.buffer_len());
        let n = packet.set_header(self.packet_type() as u8, self.flags(), self.remaining_len())?;
        let mut w = Writer::new(&mut packet.bytes_mut()[n..]);
        match self {
            Self::Connect {
                keepalive,
                mac,
                name,
            } => {
                w.u8(PROTOCOL_VERSION)?;
                w.u16(*keepalive)?;
                w.put(mac)?;
                if let Some(n) = name {
                    if n.is_empty() || n.len() > MAX_NAME {
                        return Err(Error::TooLong);
                    }
                    // 1..=32 checked above.
                    w.u8(n.len() as u8)?;
                    w.put(n.as_bytes())?;
                }
            }
            Self::ConnAck { code, session } => {
                w.u8(*code as u8)?;
                w.u16(*session)?;
            }
            Self::Publish {
                qos,
                packet_id,
                topic,
                payload,
                ..
            } => {
                if !valid_topic(topic) {
                    return Err(Error::Malformed);
                }
                if *qos == Qos::AtLeastOnce {
                    w.u16(*packet_id)?;
                }
                // <= MAX_TOPIC (64) checked by valid_topic.
                w.u8(topic.len() as u8)?;
                w.put(topic.as_bytes())?;
                w.put(payload)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { mac, name, .. } => {
                f.write_str("CONNECT ")?;
                for (i, b) in mac.iter().enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                if let Some(n) = name {
                    write!(f, " {n:?}")?;
                }
                Ok(())
            }
            Self::ConnAck { code, session } => write!(f, "CONNACK {code:?} session {session}"),
            Self::Publish { topic, payload, .. } => {
                write!(f, "PUBLISH {topic} {} B", payload.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static CONNECT: [u8; 16] = [
        0x11, 0x0e, 0x01, 0x3c, 0x00, 0x24, 0x6f, 0x28, 0x01, 0x02, 0x03, 0x04, b'k', b'i', b't',
        b'e',
    ];
    static CONNACK: [u8; 5] = [0x20, 0x03, 0x00, 0x07, 0x00];
    static PUBLISH: [u8; 13] = [
        0x31, 0x0b, 0x05, 0x00, 0x04, b't', b'e', b'm', b'p', b'2', b'1', b'.', b'5',
    ];

    #[test]
    fn test_parse_and_emit() {
        let cases = [
            (
                &CONNECT[..],
                Repr::Connect {
                    keepalive: 60,
                    mac: [0x24, 0x6f, 0x28, 1, 2, 3],
                    name: Some("kite"),
                },
            ),
            (
                &CONNACK[..],
                Repr::ConnAck {
                    code: ReturnCode::Accepted,
                    session: 7,
                },
            ),
            (
                &PUBLISH[..],
                Repr::Publish {
                    qos: Qos::AtLeastOnce,
                    retain: false,
                    packet_id: 5,
                    topic: "temp",
                    payload: b"21.5",
                },
            ),
        ];
        for (bytes, packet) in cases {
            assert_eq!(
                Repr::parse(&Packet::new_checked(bytes).unwrap()).unwrap(),
                packet
            );
            let mut buf = [0u8; 32];
            let n = packet.buffer_len();
            packet
                .emit(&mut Packet::new_unchecked(&mut buf[..n]))
                .unwrap();
            assert_eq!(&buf[..n], bytes);
        }
    }

    #[test]
    fn long_publish_uses_varint() {
        let payload = [7u8; 300];
        let p = Repr::Publish {
            qos: Qos::AtMostOnce,
            retain: true,
            packet_id: 0,
            topic: "blob",
            payload: &payload,
        };
        let mut buf = [0u8; 308];
        assert_eq!(p.buffer_len(), 308);
        p.emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(&buf[..3], &[0x32, 0xb1, 0x02]); // 305 = 0x31 + (2 << 7)
        assert_eq!(Repr::parse(&Packet::new_unchecked(&buf)).unwrap(), p);
    }

    fn parse(b: &[u8]) -> Result<Repr<'_>> {
        Repr::parse(&Packet::new_unchecked(b))
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(&[0x00, 0x00]), Err(Error::UnknownKind));
        assert_eq!(parse(&[0x20, 0x03, 0, 0]), Err(Error::Truncated));
        assert_eq!(parse(&[0x21, 0x03, 0, 0, 0]), Err(Error::Malformed));
        assert_eq!(
            parse(&[0x30, 0x03, 0x02, b'a', b'#']),
            Err(Error::Malformed)
        );
        assert_eq!(
            parse(&[0x30, 0xff, 0xff, 0xff, 0xff]),
            Err(Error::BadLength)
        );
        // overlong varint for 3
        assert_eq!(parse(&[0x20, 0x83, 0x00, 0, 7, 0]), Err(Error::BadLength));
        assert_eq!(parse(&[0x20, 0x03, 0x00, 0x07]), Err(Error::Truncated));
    }
}
