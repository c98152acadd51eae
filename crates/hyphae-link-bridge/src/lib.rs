//! hyphae's ESP-NOW radio bridge.
//!
//! An ESP32 running `firmware/esp32c3/bridge` turns ESP-NOW into records on a serial line
//! (USB-serial-JTAG or a UART), so that a Linux `hyphae node` or `hyphae gateway` can use it as
//! its radio, the way Reticulum uses an RNode. This crate holds both ends' shared parts:
//!
//! - [`record`], [`cobs`], [`Decoder`]: the `no_std`, allocation-free framing codec
//!   (COBS-stuffed `type | body | CRC-16` records, `0x00`-delimited; normative text in
//!   `docs/spec/bridge.md`), used unchanged by the firmware;
//! - [`espnow`]: ESP-NOW rules the firmwares follow (channel 1..=13, never 14; the radio peer
//!   table with least-recently-seen eviction; RSSI to link quality), tested here on the host;
//! - `host` (feature `std`, on by default): [`host::BridgeLink`], a tokio link over
//!   tokio-serial that speaks the framing to the firmware, and its serde
//!   [`host::BridgeConfig`] (`type = "espnow-bridge"`).
//!
//! The firmware uses `default-features = false`, which leaves only the `no_std` parts.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod cobs;
mod decoder;
pub mod espnow;
pub mod record;

#[cfg(feature = "std")]
pub mod host;

pub use decoder::Decoder;
pub use record::{
    DecodeError, EncodeError, ErrorCode, MAX_ENCODED, MAX_PAYLOAD, MAX_RECORD, Mac,
    PROTOCOL_VERSION, Record, Status,
};
