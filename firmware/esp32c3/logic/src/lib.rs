//! The node firmware's hardware-free parts, kept out of the firmware binary crate so that the
//! host runs their tests (`cargo test -p hyphae-fw-logic --target x86_64-unknown-linux-gnu`):
//!
//! - [`device_app`]: the sensor application (device–gateway protocol over the core);
//! - [`identity`]: the identity record the node keeps in flash;
//! - [`provision`]: the provisioning record (network, key, credential, admins) the admin's
//!   tool writes and the node reads at boot;
//! - [`storage`]: the key storage over a flash region (identity, counter journal, provisioning
//!   record) behind a small [`storage::Flash`] trait, with an in-memory flash for the tests;
//! - [`secure`]: the boot decision (secure with a valid record, otherwise unprovisioned) and
//!   the persistence of counter reservations.

#![cfg_attr(not(test), no_std)]

pub mod device_app;
pub mod identity;
pub mod provision;
pub mod secure;
pub mod storage;
