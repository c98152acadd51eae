#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

pub mod ack;
pub mod address;
pub mod beacon;
pub mod device;
pub mod error;
pub mod frame;
pub mod gossip;
pub mod header;
pub mod notice;
pub mod package;
pub mod routing;
pub mod security;
pub mod service;
pub mod single;
pub mod sizes;
pub mod status;
pub mod trace;
pub mod transfer;
pub mod tree;

mod cursor;

pub use ack::Repr as AckRepr;
pub use address::{Address, Coords, NodeId, ShortId};
pub use beacon::Repr as BeaconRepr;
pub use error::Error;
pub use frame::{Frame, FrameRepr};
pub use gossip::Repr as GossipRepr;
pub use header::{Control, Flags, Kind, Repr as HeaderRepr};
pub use notice::Repr as NoticeRepr;
pub use package::{AppId, Repr as PackageRepr};
pub use routing::Repr as RoutingRepr;
pub use service::Repr as ServiceRepr;
pub use single::Repr as SingleRepr;
pub use status::Repr as StatusRepr;
pub use trace::Repr as TraceRepr;
pub use transfer::Repr as FragmentRepr;
pub use tree::Repr as TreeRepr;

/// The frame-format version this crate implements (`docs/spec/frames.md`).
pub const VERSION: u8 = 1;
