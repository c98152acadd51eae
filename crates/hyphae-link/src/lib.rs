#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

use core::fmt;
use core::time::Duration;

/// The kinds of link hyphae knows, each with its standard frame MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// ESP-NOW v1.0: 250-byte frames, 1 Mbit/s default PHY rate.
    EspNowV1,
    /// ESP-NOW v2.0: 1470-byte frames (every peer must speak v2).
    EspNowV2,
    /// REYAX RYLR-998 LoRa module over UART AT commands.
    LoraRylr998,
    /// UDP/IP, 1232-byte datagrams (safe on any IPv6 path).
    Udp,
    /// Bluetooth Low Energy with a 247-byte ATT MTU (244 bytes of payload).
    Ble,
}

impl LinkKind {
    /// Every link kind, in the order tables list them.
    pub const ALL: [Self; 5] = [
        Self::EspNowV1,
        Self::EspNowV2,
        Self::LoraRylr998,
        Self::Udp,
        Self::Ble,
    ];

    /// The frame MTU in bytes: the largest hyphae frame one datagram of this link carries.
    pub const fn mtu(self) -> usize {
        match self {
            Self::EspNowV1 => 250,
            Self::EspNowV2 => 1470,
            Self::LoraRylr998 => 240,
            Self::Udp => 1232,
            Self::Ble => 244,
        }
    }

    /// The stable short name used in configuration files and JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EspNowV1 => "espnow-v1",
            Self::EspNowV2 => "espnow-v2",
            Self::LoraRylr998 => "lora-rylr998",
            Self::Udp => "udp",
            Self::Ble => "ble",
        }
    }

    /// Parse a name produced by [`LinkKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Static properties of one link, as the core's links table holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// What kind of link this is.
    pub kind: LinkKind,
    /// Largest frame in bytes.
    pub mtu: usize,
    /// Raw bit rate of the medium in bits per second (for airtime estimates).
    pub bitrate: u32,
    /// Whether the link can send one frame to every neighbour at once.
    pub broadcast: bool,
    /// Fraction of time the node may transmit, in parts per million (1 % = 10 000;
    /// 1 000 000 = no limit).
    pub duty_cycle_ppm: u32,
    /// Window over which the duty cycle is accounted.
    pub duty_cycle_window: Duration,
}

impl LinkInfo {
    /// Typical properties of a link kind (no duty-cycle limit except LoRa's EU868 1 %).
    pub const fn for_kind(kind: LinkKind) -> Self {
        let (bitrate, broadcast, duty_cycle_ppm) = match kind {
            LinkKind::EspNowV1 | LinkKind::EspNowV2 => (1_000_000, true, 1_000_000),
            // SF9 / 125 kHz / CR 4/5 raw rate is about 1.76 kbit/s.
            LinkKind::LoraRylr998 => (1_760, true, 10_000),
            LinkKind::Udp => (100_000_000, true, 1_000_000),
            LinkKind::Ble => (1_000_000, false, 1_000_000),
        };
        Self {
            kind,
            mtu: kind.mtu(),
            bitrate,
            broadcast,
            duty_cycle_ppm,
            duty_cycle_window: Duration::from_secs(3600),
        }
    }
}

/// A link-layer address: up to [`LinkAddr::MAX_LEN`] bytes whose meaning belongs to the link
/// (a 6-byte MAC for ESP-NOW, a 2-byte module address for the RYLR-998, an encoded socket
/// address for UDP). The all-`0xFF` 6-byte address is the broadcast address on every link.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkAddr {
    len: u8,
    bytes: [u8; 18],
}

impl LinkAddr {
    /// Longest address a link may use (an IPv6 socket address: 16 + 2 bytes).
    pub const MAX_LEN: usize = 18;

    /// The broadcast address (`ff:ff:ff:ff:ff:ff`), understood by every link.
    pub const BROADCAST: Self = Self {
        len: 6,
        bytes: [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    };

    /// An address from its bytes; `Err` if longer than [`LinkAddr::MAX_LEN`].
    pub fn new(bytes: &[u8]) -> Result<Self, LinkError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(LinkError::AddressTooLong);
        }
        let mut out = [0; Self::MAX_LEN];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            // Cannot truncate: checked against MAX_LEN (18) above.
            len: bytes.len() as u8,
            bytes: out,
        })
    }

    /// The address bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether this is [`LinkAddr::BROADCAST`].
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// An address for an IPv4 or IPv6 socket address: 4 or 16 address bytes, then the port
    /// big-endian.
    #[cfg(feature = "std")]
    pub fn from_socket_addr(addr: std::net::SocketAddr) -> Self {
        let mut out = [0; Self::MAX_LEN];
        let len = match addr {
            std::net::SocketAddr::V4(a) => {
                out[..4].copy_from_slice(&a.ip().octets());
                out[4..6].copy_from_slice(&a.port().to_be_bytes());
                6
            }
            std::net::SocketAddr::V6(a) => {
                out[..16].copy_from_slice(&a.ip().octets());
                out[16..18].copy_from_slice(&a.port().to_be_bytes());
                18
            }
        };
        Self { len, bytes: out }
    }

    /// The socket address this address encodes, if it was made by
    /// [`LinkAddr::from_socket_addr`] (6 or 18 bytes; the broadcast address is not one).
    #[cfg(feature = "std")]
    pub fn to_socket_addr(&self) -> Option<std::net::SocketAddr> {
        if self.is_broadcast() {
            return None;
        }
        let b = self.as_bytes();
        match b.len() {
            6 => {
                let ip = std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]);
                Some(std::net::SocketAddr::from((
                    ip,
                    u16::from_be_bytes([b[4], b[5]]),
                )))
            }
            18 => {
                let mut ip = [0; 16];
                ip.copy_from_slice(&b[..16]);
                let port = u16::from_be_bytes([b[16], b[17]]);
                Some(std::net::SocketAddr::from((
                    std::net::Ipv6Addr::from(ip),
                    port,
                )))
            }
            _ => None,
        }
    }
}

impl fmt::Debug for LinkAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for LinkAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What the radio reports about a received frame, where it reports anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxMeta {
    /// Received signal strength in dBm.
    pub rssi: Option<i16>,
    /// Signal-to-noise ratio in dB.
    pub snr: Option<i8>,
}

/// Errors a link driver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// An address was longer than [`LinkAddr::MAX_LEN`].
    AddressTooLong,
    /// A frame was larger than the link's MTU.
    FrameTooLarge,
    /// The link's duty-cycle or airtime budget is spent; retry later.
    BudgetExhausted,
    /// The device or socket is gone or not ready.
    Unavailable,
    /// The device rejected the operation.
    Rejected,
    /// The device did not answer in time.
    TimedOut,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AddressTooLong => "link address too long",
            Self::FrameTooLarge => "frame larger than the link MTU",
            Self::BudgetExhausted => "airtime budget exhausted",
            Self::Unavailable => "link unavailable",
            Self::Rejected => "operation rejected by the device",
            Self::TimedOut => "device timed out",
        })
    }
}

impl core::error::Error for LinkError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_names() {
        for kind in LinkKind::ALL {
            assert_eq!(LinkKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(LinkKind::from_name("carrier-pigeon"), None);
    }

    #[test]
    fn addr_rejects_too_long() {
        assert_eq!(LinkAddr::new(&[0; 19]), Err(LinkError::AddressTooLong));
        assert!(LinkAddr::new(&[0; 18]).is_ok());
    }

    #[cfg(feature = "std")]
    #[test]
    fn socket_addr_round_trip() {
        for s in ["10.0.0.1:4000", "[::1]:9"] {
            let addr: std::net::SocketAddr = s.parse().unwrap();
            assert_eq!(
                LinkAddr::from_socket_addr(addr).to_socket_addr(),
                Some(addr)
            );
        }
    }
}
