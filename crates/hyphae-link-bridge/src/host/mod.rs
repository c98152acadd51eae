//! The host side of the bridge: a tokio link that drives the bridge firmware over a serial port.

mod config;
mod link;

pub use config::{BridgeConfig, ConfigError};
pub use link::{
    BridgeError, BridgeEvent, BridgeHandle, BridgeLink, EVENT_QUEUE, LinkStats, Received,
};
