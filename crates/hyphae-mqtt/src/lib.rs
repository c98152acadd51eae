#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod bridge;
pub mod broker;
pub mod gateway;
pub mod payload;
pub mod spool;
pub mod topic;

pub use bridge::{Bridge, BridgeConfig, BridgeError, BridgeStats};
pub use gateway::{Gateway, GatewayConfig, GatewayError, GatewayStats, MqttMessage, Output};
pub use payload::PayloadFormat;
pub use topic::Topics;
