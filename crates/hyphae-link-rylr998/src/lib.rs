#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod airtime;
pub mod at;
pub mod encoding;

#[cfg(feature = "runner")]
pub mod config;
#[cfg(feature = "runner")]
pub mod runner;

pub use airtime::{DutyCycle, Modem};
#[cfg(feature = "runner")]
pub use config::{ConfigError, Rylr998Config};
#[cfg(feature = "runner")]
pub use runner::{Datagram, RunError, RunnerStats, Rylr998, Rylr998Sender};

use hyphae_link::{LinkInfo, LinkKind};

/// The hyphae link description of an RYLR-998 with `modem` parameters and a duty cycle in
/// parts per million: the frame MTU after encoding, an effective bit rate for airtime
/// estimates, and the duty-cycle budget.
pub fn link_info(modem: &Modem, duty_cycle_ppm: u32) -> LinkInfo {
    let full = modem.send_airtime(encoding::MAX_DATAGRAM);
    let bits = (encoding::MAX_DATAGRAM as u64) * 8;
    let bitrate = (bits * 1_000_000 / (full.as_micros() as u64).max(1)) as u32;
    LinkInfo {
        mtu: encoding::MAX_FRAME,
        bitrate,
        duty_cycle_ppm,
        ..LinkInfo::for_kind(LinkKind::LoraRylr998)
    }
}
