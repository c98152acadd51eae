#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

#[macro_use]
mod macros;

pub mod ack;
pub mod address;
pub mod beacon;
pub mod device;
pub mod error;
pub mod fragment;
pub mod frame;
pub mod gossip;
pub mod header;
pub mod package;
pub mod routing;
pub mod security;
pub mod service;
pub mod single;
pub mod sizes;
pub mod status;
pub mod trace;
pub mod tree;

mod cursor;
mod err;

pub use ack::{Packet as AckPacket, Repr as AckRepr};
pub use address::{Address, Coords, NodeId, ShortId};
pub use beacon::{Packet as BeaconPacket, Repr as BeaconRepr};
pub use device::{Packet as DevicePacket, Repr as DeviceRepr};
pub use err::{Error, Result};
/// The first name of [`error`] (error notices); both paths stay valid.
pub use error as notice;
/// The first name of [`ErrorRepr`].
pub use error::Repr as NoticeRepr;
pub use error::{Code as ErrorCode, Packet as ErrorPacket, Repr as ErrorRepr};
pub use fragment::{Packet as FragmentPacket, Repr as FragmentRepr};
pub use frame::{Body, Frame, FrameRepr};
pub use gossip::{Packet as GossipPacket, Repr as GossipRepr};
pub use header::{Control, Flags, Kind, Metric, Packet as HeaderPacket, Repr as HeaderRepr};
pub use package::{AppId, Packet as PackagePacket, Repr as PackageRepr};
pub use routing::{Packet as RoutingPacket, Repr as RoutingRepr};
pub use security::{Packet as SecurityPacket, Repr as SecurityRepr};
pub use service::{Packet as ServicePacket, Repr as ServiceRepr};
pub use single::{Packet as SinglePacket, Repr as SingleRepr};
pub use status::{Packet as StatusPacket, Repr as StatusRepr};
pub use trace::{Packet as TracePacket, Repr as TraceRepr};
pub use tree::{Packet as TreePacket, Repr as TreeRepr};

/// The frame-format version this crate implements (`docs/spec/frames.md`).
pub const VERSION: u8 = 1;
