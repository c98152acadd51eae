#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod api;
pub mod b64;
pub mod blobstore;
pub mod config;
pub mod metrics;
pub mod mgmt;
pub mod runner;
pub mod secure;

pub use config::{Config, ConfigError};
pub use runner::{AppEvent, Host, HostHandle, start};
