#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

mod arena;
pub mod blob;
pub mod config;
pub mod event;
pub mod links;
pub mod node;
pub mod peers;
mod rng;
pub mod security;
pub mod session;
pub mod time;

pub use config::{Config, Metric, Routing};
pub use event::{
    Counters, Delivery, DeliveryId, DropReason, Event, FailReason, SendId, SendProgress,
};
pub use hyphae_link::{LinkAddr, LinkInfo, LinkKind, RxMeta};
pub use hyphae_wire::{AppId, Coords, NodeId};
pub use links::LinkId;
pub use node::{
    HostNode, LinkEvent, MAX_TREES, McuNode, Node, RoutingStats, SendError, ServiceProvider,
    SignedAssignment, SimNode, Transmit,
};
pub use time::Instant;
