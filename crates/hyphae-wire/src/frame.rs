//! Whole frames: the common header, the optional security header, the optional routing header,
//! the body and the optional tag (`frames.md` §1).
//!
//! [`Frame`] splits received bytes into those parts without interpreting the body (what the
//! crypto layer needs before it can open a sealed body); [`FrameRepr`] is a fully parsed frame
//! that can be emitted again.

use core::fmt;

use crate::fragment::Form;
use crate::header::{self, Control, Flags, Kind};
use crate::{Error, Result};
use crate::{ack, beacon, error, fragment, gossip, routing, security, service, single, status};
use crate::{trace, tree};

/// A received frame split into its parts, body still raw (possibly sealed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The common header.
    pub header: header::Repr,
    /// The security header, when the secure flag is set.
    pub security: Option<security::Repr>,
    /// The routing header, when the routed bit is set.
    pub routing: Option<routing::Repr>,
    /// Offset of the body within the frame (everything before it is authenticated data).
    pub body_offset: usize,
    /// The body bytes (ciphertext when secure).
    pub body: &'a [u8],
    /// The authentication tag, when secure.
    pub tag: Option<&'a [u8]>,
}

impl<'a> Frame<'a> {
    /// Split `bytes` into the frame's parts. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let hp = header::Packet::new_checked(bytes)?;
        let header = header::Repr::parse(&hp)?;
        let mut pos = header::HEADER_LEN;
        let mut end = bytes.len();
        let security = if header.flags.secure() {
            let s = security::Repr::parse(&security::Packet::new_unchecked(
                bytes.get(pos..).ok_or(Error::Truncated)?,
            ))?;
            pos += security::HEADER_LEN;
            end = end
                .checked_sub(security::TAG_LEN)
                .filter(|e| *e >= pos)
                .ok_or(Error::Truncated)?;
            Some(s)
        } else {
            None
        };
        let routing = if header.routed {
            let r = routing::Repr::parse(&routing::Packet::new_unchecked(
                bytes.get(pos..end).ok_or(Error::Truncated)?,
            ))?;
            pos += r.buffer_len();
            Some(r)
        } else {
            None
        };
        Ok(Self {
            header,
            security,
            routing,
            body_offset: pos,
            body: bytes.get(pos..end).ok_or(Error::Truncated)?,
            tag: security.and_then(|_| bytes.get(end..)),
        })
    }

    /// Interpret the body (which must be plaintext).
    pub fn body(&self) -> Result<Body<'a>> {
        Body::parse(self.header.kind, self.header.control, self.body)
    }
}

/// A frame body of any kind.
// Beacons and traces hold fixed-capacity arrays; without alloc there is nothing to box them
// into, and bodies live briefly on the stack.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// A whole message.
    Single(single::Repr<'a>),
    /// A fragment (kind Fragment or FragmentLarge, chosen by size).
    Fragment(fragment::Repr<'a>),
    /// An acknowledgement (`retransmit`: the bitmap names missing fragments).
    Ack {
        /// The acknowledgement.
        ack: ack::Repr<'a>,
        /// Whether the control code is retransmit request.
        retransmit: bool,
    },
    /// RNS or NIA.
    Status(status::Repr),
    /// An error notice (kind `Error`).
    Notice(error::Repr),
    /// A neighbour beacon.
    Beacon(beacon::Repr),
    /// A tree message.
    Tree(tree::Repr),
    /// A tree message followed by its signature trailer (`security.md` §9): a 64-byte
    /// signature, or for a claim the signature and the root's 103-byte credential. The trailer
    /// is checked by the security layer; here only its length.
    SignedTree(tree::Repr, &'a [u8]),
    /// Gossip.
    Gossip(gossip::Repr<'a>),
    /// A service announcement.
    Service(service::Repr<'a>),
    /// A trace probe or reply.
    Trace(trace::Repr),
    /// A handshake body, interpreted by `hyphae-crypto`.
    Handshake(&'a [u8]),
}

impl<'a> Body<'a> {
    /// Parse a body of `kind` sent with `control` (the body is the whole of `body`).
    pub fn parse(kind: Kind, control: Control, body: &'a [u8]) -> Result<Self> {
        if !control.allowed_with(kind) {
            return Err(Error::BadControl);
        }
        Ok(match kind {
            Kind::Single => {
                Self::Single(single::Repr::parse(&single::Packet::new_unchecked(body))?)
            }
            Kind::Fragment => Self::Fragment(fragment::Repr::parse(
                &fragment::Packet::new_unchecked(body, Form::Compact),
            )?),
            Kind::FragmentLarge => Self::Fragment(fragment::Repr::parse(
                &fragment::Packet::new_unchecked(body, Form::Large),
            )?),
            Kind::Ack => Self::Ack {
                ack: ack::Repr::parse(&ack::Packet::new_unchecked(body))?,
                retransmit: control == Control::RetransmitRequest,
            },
            Kind::Status => Self::Status(status::Repr::parse(
                &status::Packet::new_unchecked(body),
                control,
            )?),
            Kind::Error => Self::Notice(error::Repr::parse(&error::Packet::new_unchecked(body))?),
            Kind::Beacon => {
                Self::Beacon(beacon::Repr::parse(&beacon::Packet::new_unchecked(body))?)
            }
            Kind::Tree => {
                let r = tree::Repr::parse(&tree::Packet::new_unchecked(body))?;
                match body.get(r.buffer_len()..) {
                    Some(t) if !t.is_empty() => Self::SignedTree(r, t),
                    _ => Self::Tree(r),
                }
            }
            Kind::Gossip => {
                Self::Gossip(gossip::Repr::parse(&gossip::Packet::new_unchecked(body))?)
            }
            Kind::Service => {
                Self::Service(service::Repr::parse(&service::Packet::new_unchecked(body))?)
            }
            Kind::Trace => Self::Trace(trace::Repr::parse(&trace::Packet::new_unchecked(body))?),
            Kind::Handshake => Self::Handshake(body),
        })
    }

    /// The frame kind and control code this body is sent with.
    pub fn kind_and_control(&self) -> (Kind, Control) {
        match self {
            Self::Single(_) => (Kind::Single, Control::None),
            Self::Fragment(f) if f.is_compact() => (Kind::Fragment, Control::None),
            Self::Fragment(_) => (Kind::FragmentLarge, Control::None),
            Self::Ack { retransmit, .. } => (
                Kind::Ack,
                if *retransmit {
                    Control::RetransmitRequest
                } else {
                    Control::Ack
                },
            ),
            Self::Status(s) => (Kind::Status, s.control()),
            Self::Notice(_) => (Kind::Error, Control::None),
            Self::Beacon(_) => (Kind::Beacon, Control::None),
            Self::Tree(_) | Self::SignedTree(..) => (Kind::Tree, Control::None),
            Self::Gossip(_) => (Kind::Gossip, Control::None),
            Self::Service(_) => (Kind::Service, Control::None),
            Self::Trace(_) => (Kind::Trace, Control::None),
            Self::Handshake(_) => (Kind::Handshake, Control::None),
        }
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::Single(r) => r.buffer_len(),
            Self::Fragment(r) => r.buffer_len(),
            Self::Ack { ack, .. } => ack.buffer_len(),
            Self::Status(r) => r.buffer_len(),
            Self::Notice(r) => r.buffer_len(),
            Self::Beacon(r) => r.buffer_len(),
            Self::Tree(r) => r.buffer_len(),
            Self::SignedTree(r, t) => r.buffer_len() + t.len(),
            Self::Gossip(r) => r.buffer_len(),
            Self::Service(r) => r.buffer_len(),
            Self::Trace(r) => r.buffer_len(),
            Self::Handshake(b) => b.len(),
        }
    }

    /// Emit into the front of `buf`; returns the bytes written ([`Body::buffer_len`]).
    /// `Err(TooLong)` if `buf` is shorter.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let b = buf.get_mut(..len).ok_or(Error::TooLong)?;
        match self {
            Self::Single(r) => r.emit(&mut single::Packet::new_unchecked(b)),
            Self::Fragment(r) => r.emit(&mut fragment::Packet::new_unchecked(b, r.form())),
            Self::Ack { ack, .. } => ack.emit(&mut ack::Packet::new_unchecked(b)),
            Self::Status(r) => r.emit(&mut status::Packet::new_unchecked(b)),
            Self::Notice(r) => r.emit(&mut error::Packet::new_unchecked(b)),
            Self::Beacon(r) => r.emit(&mut beacon::Packet::new_unchecked(b)),
            Self::Tree(r) => r.emit(&mut tree::Packet::new_unchecked(b)),
            Self::SignedTree(r, t) => {
                if t.is_empty() || !tree::valid_trailer(r.op, t.len()) {
                    return Err(Error::Malformed);
                }
                let (head, tail) = b.split_at_mut(r.buffer_len());
                tail.copy_from_slice(t);
                r.emit(&mut tree::Packet::new_unchecked(head))
            }
            Self::Gossip(r) => r.emit(&mut gossip::Packet::new_unchecked(b)),
            Self::Service(r) => r.emit(&mut service::Packet::new_unchecked(b)),
            Self::Trace(r) => r.emit(&mut trace::Packet::new_unchecked(b)),
            Self::Handshake(h) => {
                b.copy_from_slice(h);
                Ok(())
            }
        }?;
        Ok(len)
    }
}

/// A whole frame with its body interpreted: what a node builds to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRepr<'a> {
    /// Flag bits (the secure bit is set from `security`, the error bit for notices).
    pub flags: Flags,
    /// Security header; `Some` makes the frame secure (the tag is left zero by
    /// [`FrameRepr::emit`] for the crypto layer to fill).
    pub security: Option<security::Repr>,
    /// Routing header; `Some` makes the frame routed.
    pub routing: Option<routing::Repr>,
    /// The body.
    pub body: Body<'a>,
}

impl<'a> FrameRepr<'a> {
    /// A one-hop, insecure frame carrying `body`.
    pub fn new(body: Body<'a>) -> Self {
        Self {
            flags: Flags::default(),
            security: None,
            routing: None,
            body,
        }
    }

    /// Parse a plaintext frame completely.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let f = Frame::parse(bytes)?;
        Ok(Self {
            // The secure bit is implied by `security`, the error bit by an Error body (where the
            // header parse required it).
            flags: f
                .header
                .flags
                .with_secure(false)
                .with_error(f.header.flags.error() && f.header.kind != Kind::Error),
            security: f.security,
            routing: f.routing,
            body: f.body()?,
        })
    }

    /// The common header this frame is emitted with.
    pub fn header(&self) -> header::Repr {
        let (kind, control) = self.body.kind_and_control();
        let flags = self
            .flags
            .with_secure(self.security.is_some())
            .with_error(self.flags.error() || kind == Kind::Error);
        header::Repr {
            routed: self.routing.is_some(),
            kind,
            control,
            flags,
        }
    }

    /// Bytes before the body (common, security and routing headers).
    pub fn header_len(&self) -> usize {
        header::HEADER_LEN
            + self.security.map_or(0, |s| s.buffer_len())
            + self.routing.map_or(0, |r| r.buffer_len())
    }

    /// Encoded length, including the tag when secure.
    pub fn buffer_len(&self) -> usize {
        self.header_len()
            + self.body.buffer_len()
            + if self.security.is_some() {
                security::TAG_LEN
            } else {
                0
            }
    }

    /// Emit into the front of `buf`; returns the frame length. `Err(TooLong)` if `buf` is
    /// shorter than [`FrameRepr::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::TooLong)?;
        self.header()
            .emit(&mut header::Packet::new_unchecked(&mut out[..]))?;
        let mut pos = header::HEADER_LEN;
        if let Some(s) = self.security {
            s.emit(&mut security::Packet::new_unchecked(&mut out[pos..]))?;
            pos += s.buffer_len();
        }
        if let Some(r) = self.routing {
            r.emit(&mut routing::Packet::new_unchecked(&mut out[pos..]))?;
            pos += r.buffer_len();
        }
        pos += self.body.emit(&mut out[pos..])?;
        if self.security.is_some() {
            out[pos..].fill(0);
        }
        Ok(len)
    }
}

impl fmt::Display for FrameRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.header())?;
        if let Some(r) = &self.routing {
            write!(f, " [{r}]")?;
        }
        match &self.body {
            Body::Single(r) => write!(f, " {r}"),
            Body::Fragment(r) => write!(f, " {r}"),
            Body::Ack { ack, .. } => write!(f, " {ack}"),
            Body::Status(r) => write!(f, " {r}"),
            Body::Notice(r) => write!(f, " {r}"),
            Body::Beacon(r) => write!(f, " {r}"),
            Body::Tree(r) => write!(f, " {r}"),
            Body::SignedTree(r, t) => write!(f, " {r} signed ({} B)", t.len()),
            Body::Gossip(r) => write!(f, " {r}"),
            Body::Service(r) => write!(f, " {r}"),
            Body::Trace(r) => write!(f, " {r}"),
            Body::Handshake(b) => write!(f, " handshake {} B", b.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{Address, Coords, ShortId};
    use crate::package::AppId;

    /// A routed, ack-requested Single frame: the worked example of `frames.md` §8.
    static ROUTED: [u8; 21] = [
        0x61, 0x08, // v1, routed, Single; ack requested
        0x07, 0x01, 0x02, 0x01, // hop limit 7, tree 1, epoch 0x0102
        0x04, 0x30, 0xf0, 0x51, // dst /3.0.20.1
        0x40, 0x01, 0x02, 0x03, 0x04, // src ~01020304
        0x07, 0x00, 0x34, 0x12, // transfer 7, app 0x1234
        b'h', b'i',
    ];

    fn routed() -> FrameRepr<'static> {
        FrameRepr {
            flags: Flags::default().with_ack_requested(true),
            security: None,
            routing: Some(routing::Repr {
                hop_limit: 7,
                tree: 1,
                epoch: 0x0102,
                dst: Address::Coords(Coords::new(&[3, 0, 20, 1]).unwrap()),
                dst_id: None,
                alt: [None; 2],
                src: Address::Short(ShortId([1, 2, 3, 4])),
            }),
            body: Body::Single(single::Repr {
                transfer: 7,
                app: AppId::new(0x1234).unwrap(),
                payload: b"hi",
            }),
        }
    }

    #[test]
    fn test_parse() {
        assert_eq!(FrameRepr::parse(&ROUTED).unwrap(), routed());
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 64];
        let n = routed().emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &ROUTED);
    }

    #[test]
    fn secure_layout() {
        let mut f = routed();
        f.security = Some(security::Repr {
            key_id: 1,
            counter: 9,
        });
        let mut buf = [0u8; 64];
        let n = f.emit(&mut buf).unwrap();
        assert_eq!(n, ROUTED.len() + security::OVERHEAD);
        assert_eq!(&buf[..2], &[0x61, 0x88]);
        assert_eq!(&buf[2..7], &[1, 9, 0, 0, 0]);
        let split = Frame::parse(&buf[..n]).unwrap();
        assert_eq!(split.body_offset, 20);
        assert_eq!(split.body, &ROUTED[15..]);
        assert_eq!(split.tag, Some(&[0u8; 16][..]));
        assert_eq!(FrameRepr::parse(&buf[..n]).unwrap(), f);
    }

    #[test]
    fn truncations_are_errors() {
        for n in 0..ROUTED.len() - 2 {
            assert!(FrameRepr::parse(&ROUTED[..n]).is_err(), "{n}");
        }
        // secure flag with no room for the tag
        assert_eq!(
            Frame::parse(&[0x41, 0x80, 1, 0, 0, 0, 0]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn too_small_buffer() {
        let mut buf = [0u8; 10];
        assert_eq!(routed().emit(&mut buf), Err(Error::TooLong));
    }

    #[test]
    fn signed_tree_bodies_round_trip_and_bad_trailers_are_rejected() {
        use crate::tree::{CLAIM_TRAILER, Op, SIGNATURE_TRAILER};
        let claim = tree::Repr {
            op: Op::Claim,
            tree: 0,
            epoch: 9,
            subject: crate::address::NodeId([3; 8]),
            address: Address::Coords(Coords::ROOT),
        };
        let trailer = [0x5a; CLAIM_TRAILER];
        let mut buf = [0u8; 250];
        for (op, n) in [(Op::Claim, CLAIM_TRAILER), (Op::Assign, SIGNATURE_TRAILER)] {
            let r = tree::Repr { op, ..claim };
            let f = FrameRepr::new(Body::SignedTree(r, &trailer[..n]));
            let len = f.emit(&mut buf).unwrap();
            assert_eq!(len, 2 + r.buffer_len() + n);
            assert_eq!(FrameRepr::parse(&buf[..len]).unwrap(), f);
        }
        // A claim-sized trailer on another op, or any other length: not a Tree body.
        let assign = tree::Repr {
            op: Op::Assign,
            ..claim
        };
        assert!(
            FrameRepr::new(Body::SignedTree(assign, &trailer))
                .emit(&mut buf)
                .is_err()
        );
        let len = FrameRepr::new(Body::SignedTree(claim, &trailer))
            .emit(&mut buf)
            .unwrap();
        assert!(FrameRepr::parse(&buf[..len - 1]).is_err());
        assert!(FrameRepr::parse(&buf[..len - CLAIM_TRAILER + 1]).is_err());
    }
}
