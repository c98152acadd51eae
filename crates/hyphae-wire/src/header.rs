//! The 2-byte common header every hyphae frame starts with (`frames.md` §1.1).
//!
//! ```text
//! byte 0: bits 7..6 version | bit 5 routed | bits 4..0 kind
//! byte 1: bit 7 secure | bit 6 metric | bit 5 throttle | bit 4 error | bit 3 ack requested |
//!         bits 2..0 control code
//! ```

use core::fmt;

use crate::{Error, Result};

mod field {
    pub(super) const KIND: usize = 0;
    pub(super) const FLAGS: usize = 1;
}

/// Length of the common header.
pub const HEADER_LEN: usize = 2;

/// The body type of a frame (`frames.md` §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A whole message in one frame.
    Single = 1,
    /// A fragment, compact form (≤ 256 fragments).
    Fragment = 2,
    /// A fragment, extended form (≤ 65 536 fragments).
    FragmentLarge = 3,
    /// Selective acknowledgement.
    Ack = 4,
    /// Request-node-status / node-is-active.
    Status = 5,
    /// Error or unreachable notice.
    Error = 6,
    /// Neighbour beacon.
    Beacon = 7,
    /// Spanning-tree control message.
    Tree = 8,
    /// Gossip message or announcement.
    Gossip = 9,
    /// Service announcement.
    Service = 10,
    /// Trace-route probe or reply.
    Trace = 11,
    /// Key agreement between neighbours (`security.md`).
    Handshake = 12,
}

impl Kind {
    /// Every kind, in numeric order.
    pub const ALL: [Self; 12] = [
        Self::Single,
        Self::Fragment,
        Self::FragmentLarge,
        Self::Ack,
        Self::Status,
        Self::Error,
        Self::Beacon,
        Self::Tree,
        Self::Gossip,
        Self::Service,
        Self::Trace,
        Self::Handshake,
    ];
}

impl TryFrom<u8> for Kind {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| *k as u8 == v)
            .ok_or(Error::UnknownKind)
    }
}

/// The mutually exclusive control code of byte 1 (`frames.md` §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Control {
    /// No control code.
    #[default]
    None = 0,
    /// Acknowledgement.
    Ack = 1,
    /// Retransmit request: the bitmap names missing fragments.
    RetransmitRequest = 2,
    /// Request node status (RNS): is the peer awake?
    RequestNodeStatus = 3,
    /// Node is active (NIA): the answer to RNS.
    NodeIsActive = 4,
}

impl Control {
    /// Whether this code may appear on a frame of `kind`.
    pub fn allowed_with(self, kind: Kind) -> bool {
        match self {
            Self::None => !matches!(kind, Kind::Ack | Kind::Status),
            Self::Ack | Self::RetransmitRequest => kind == Kind::Ack,
            Self::RequestNodeStatus | Self::NodeIsActive => kind == Kind::Status,
        }
    }
}

impl TryFrom<u8> for Control {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Ok(match v {
            0 => Self::None,
            1 => Self::Ack,
            2 => Self::RetransmitRequest,
            3 => Self::RequestNodeStatus,
            4 => Self::NodeIsActive,
            _ => return Err(Error::BadControl),
        })
    }
}

/// The routing metric a routed frame is forwarded by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Metric {
    /// Mode 0: distance in the tree.
    #[default]
    TreeDistance,
    /// Mode 1: common prefix length.
    CommonPrefix,
}

/// The independent flag bits of byte 1 (bits 3..7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// Ack requested.
    pub const ACK_REQUESTED: u8 = 1 << 3;
    /// The frame reports an error.
    pub const ERROR: u8 = 1 << 4;
    /// The sender is congested.
    pub const THROTTLE: u8 = 1 << 5;
    /// Metric mode: common prefix length when set.
    pub const METRIC_CPL: u8 = 1 << 6;
    /// Security header and trailer present.
    pub const SECURE: u8 = 1 << 7;
    const MASK: u8 = 0xf8;

    /// Flags from the raw byte (control bits are ignored).
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & Self::MASK)
    }
    /// The raw bits (control bits zero).
    pub const fn bits(self) -> u8 {
        self.0
    }
    fn get(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    fn with(self, bit: u8, on: bool) -> Self {
        if on {
            Self(self.0 | bit)
        } else {
            Self(self.0 & !bit)
        }
    }
    /// Whether an acknowledgement is requested.
    pub fn ack_requested(self) -> bool {
        self.get(Self::ACK_REQUESTED)
    }
    /// Whether the frame reports an error.
    pub fn error(self) -> bool {
        self.get(Self::ERROR)
    }
    /// Whether the sender asks peers to slow down.
    pub fn throttle(self) -> bool {
        self.get(Self::THROTTLE)
    }
    /// The routing metric mode.
    pub fn metric(self) -> Metric {
        if self.get(Self::METRIC_CPL) {
            Metric::CommonPrefix
        } else {
            Metric::TreeDistance
        }
    }
    /// Whether the security header and trailer are present.
    pub fn secure(self) -> bool {
        self.get(Self::SECURE)
    }
    /// With the ack-requested bit set or cleared.
    #[must_use]
    pub fn with_ack_requested(self, on: bool) -> Self {
        self.with(Self::ACK_REQUESTED, on)
    }
    /// With the error bit set or cleared.
    #[must_use]
    pub fn with_error(self, on: bool) -> Self {
        self.with(Self::ERROR, on)
    }
    /// With the throttle bit set or cleared.
    #[must_use]
    pub fn with_throttle(self, on: bool) -> Self {
        self.with(Self::THROTTLE, on)
    }
    /// With the metric mode set.
    #[must_use]
    pub fn with_metric(self, metric: Metric) -> Self {
        self.with(Self::METRIC_CPL, metric == Metric::CommonPrefix)
    }
    /// With the secure bit set or cleared.
    #[must_use]
    pub fn with_secure(self, on: bool) -> Self {
        self.with(Self::SECURE, on)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::ACK_REQUESTED, "ack-req"),
            (Self::ERROR, "error"),
            (Self::THROTTLE, "throttle"),
            (Self::METRIC_CPL, "cpl"),
            (Self::SECURE, "secure"),
        ];
        f.write_str("[")?;
        let mut first = true;
        for (bit, name) in names {
            if self.get(bit) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str("]")
    }
}

packet_view! {
    /// A read/write view over the common header.
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Err(Truncated)` if the buffer is shorter than the header.
    pub fn check_len(&self) -> Result<()> {
        if self.bytes().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// The version field.
    pub fn version(&self) -> u8 {
        self.bytes()[field::KIND] >> 6
    }
    /// The routed bit.
    pub fn routed(&self) -> bool {
        self.bytes()[field::KIND] & 0x20 != 0
    }
    /// The raw kind field.
    pub fn kind(&self) -> u8 {
        self.bytes()[field::KIND] & 0x1f
    }
    /// The raw control code.
    pub fn control(&self) -> u8 {
        self.bytes()[field::FLAGS] & 0x07
    }
    /// The flag bits.
    pub fn flags(&self) -> Flags {
        Flags::from_bits(self.bytes()[field::FLAGS])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set version, routed bit and kind.
    pub fn set_kind_byte(&mut self, version: u8, routed: bool, kind: u8) {
        self.bytes_mut()[field::KIND] = (version << 6) | (u8::from(routed) << 5) | (kind & 0x1f);
    }
    /// Set control code and flags.
    pub fn set_flags_byte(&mut self, control: u8, flags: Flags) {
        self.bytes_mut()[field::FLAGS] = flags.bits() | (control & 0x07);
    }
    /// Set the version field (masked to two bits).
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.bytes_mut()[field::KIND];
        *b = (*b & 0x3f) | ((version & 0x03) << 6);
    }
    /// Set the routed bit.
    pub fn set_routed(&mut self, routed: bool) {
        let b = &mut self.bytes_mut()[field::KIND];
        *b = (*b & !0x20) | (u8::from(routed) << 5);
    }
    /// Set the kind field (masked to five bits).
    pub fn set_kind(&mut self, kind: u8) {
        let b = &mut self.bytes_mut()[field::KIND];
        *b = (*b & 0xe0) | (kind & 0x1f);
    }
    /// Set the control code (masked to three bits), keeping the flags.
    pub fn set_control(&mut self, control: u8) {
        let b = &mut self.bytes_mut()[field::FLAGS];
        *b = (*b & 0xf8) | (control & 0x07);
    }
    /// Set the flag bits, keeping the control code (e.g. a relay raising `throttle`).
    pub fn set_flags(&mut self, flags: Flags) {
        let b = &mut self.bytes_mut()[field::FLAGS];
        *b = (*b & 0x07) | flags.bits();
    }
}

/// The meaning of a common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Whether a routing header follows.
    pub routed: bool,
    /// The body type.
    pub kind: Kind,
    /// The control code (allowed with `kind`).
    pub control: Control,
    /// The independent flag bits.
    pub flags: Flags,
}

impl Repr {
    /// A header for `kind` with no control code and no flags.
    pub const fn new(kind: Kind) -> Self {
        Self {
            routed: false,
            kind,
            control: Control::None,
            flags: Flags(0),
        }
    }

    /// Parse and validate a header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.version() != crate::VERSION {
            return Err(Error::UnsupportedVersion);
        }
        let kind = Kind::try_from(packet.kind())?;
        let control = Control::try_from(packet.control())?;
        if !control.allowed_with(kind) {
            return Err(Error::BadControl);
        }
        if kind == Kind::Error && !packet.flags().error() {
            return Err(Error::Malformed);
        }
        Ok(Self {
            routed: packet.routed(),
            kind,
            control,
            flags: packet.flags(),
        })
    }

    /// Always [`HEADER_LEN`].
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emit into `packet`; `Err(TooLong)` if it is shorter than [`HEADER_LEN`], `Err(BadControl)`
    /// if the control code is not allowed with the kind, `Err(Malformed)` for an `Error` frame
    /// without the error flag.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        ensure_room!(packet, HEADER_LEN);
        if !self.control.allowed_with(self.kind) {
            return Err(Error::BadControl);
        }
        if self.kind == Kind::Error && !self.flags.error() {
            return Err(Error::Malformed);
        }
        packet.set_kind_byte(crate::VERSION, self.routed, self.kind as u8);
        packet.set_flags_byte(self.control as u8, self.flags);
        Ok(())
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if self.routed {
            f.write_str(" routed")?;
        }
        if self.control != Control::None {
            write!(f, " {:?}", self.control)?;
        }
        write!(f, " {}", self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Single, routed, ack requested, secure.
    static ROUTED_SINGLE: [u8; 2] = [0x61, 0x88];

    #[test]
    fn test_parse() {
        let repr = Repr::parse(&Packet::new_unchecked(&ROUTED_SINGLE)).unwrap();
        assert!(repr.routed);
        assert_eq!(repr.kind, Kind::Single);
        assert!(repr.flags.ack_requested() && repr.flags.secure());
        assert!(!repr.flags.throttle());
    }

    #[test]
    fn test_emit() {
        let repr = Repr {
            routed: true,
            kind: Kind::Single,
            control: Control::None,
            flags: Flags::default().with_ack_requested(true).with_secure(true),
        };
        let mut buf = [0u8; 2];
        repr.emit(&mut Packet::new_unchecked(&mut buf)).unwrap();
        assert_eq!(buf, ROUTED_SINGLE);
    }

    #[test]
    fn field_setters() {
        let mut b = [0u8; 2];
        let mut p = Packet::new_unchecked(&mut b);
        p.set_version(1);
        p.set_routed(true);
        p.set_kind(Kind::Single as u8);
        p.set_flags(Flags::default().with_ack_requested(true).with_secure(true));
        p.set_control(0);
        assert_eq!(b, ROUTED_SINGLE);
        let mut p = Packet::new_unchecked(&mut b);
        p.set_routed(false);
        p.set_flags(Flags::default());
        assert_eq!(b, [0x41, 0x00]);
    }

    #[test]
    fn rejects_bad_fields() {
        let p = |b: [u8; 2]| Repr::parse(&Packet::new_unchecked(b));
        assert_eq!(p([0x01, 0]), Err(Error::UnsupportedVersion));
        assert_eq!(p([0x40, 0]), Err(Error::UnknownKind));
        assert_eq!(p([0x5f, 0]), Err(Error::UnknownKind));
        assert_eq!(p([0x41, 0x01]), Err(Error::BadControl)); // ack code on Single
        assert_eq!(p([0x44, 0x00]), Err(Error::BadControl)); // Ack kind without code
        assert_eq!(p([0x45, 0x05]), Err(Error::BadControl)); // reserved code
        assert_eq!(p([0x46, 0x00]), Err(Error::Malformed)); // Error kind without error flag
        assert!(p([0x46, 0x10]).is_ok());
        assert_eq!(
            Repr::parse(&Packet::new_unchecked([0x41])),
            Err(Error::Truncated)
        );
    }
}
