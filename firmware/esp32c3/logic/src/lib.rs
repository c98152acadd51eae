//! The node firmware's hardware-free parts, kept out of the firmware binary crate so that the
//! host runs their tests (`cargo test -p hyphae-fw-logic --target x86_64-unknown-linux-gnu`):
//!
//! - [`device_app`]: the sensor application (device–gateway protocol over the core);
//! - [`identity`]: the identity record the node keeps in flash.

#![cfg_attr(not(test), no_std)]

pub mod device_app;
pub mod identity;
