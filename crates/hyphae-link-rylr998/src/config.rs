//! Configuration of an RYLR-998 link, as `hyphae node` reads it from TOML

//! (`type = "rylr998"`).

use std::string::String;
use std::time::Duration;

use serde::Deserialize;

use crate::airtime::Modem;

/// An RYLR-998 link's settings. Every field but `device` has the module's default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rylr998Config {
    /// Serial device, e.g. `/dev/ttyUSB0`.
    pub device: String,
    /// UART baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// This module's address (0 is the broadcast address: not allowed here).
    #[serde(default = "default_address")]
    pub address: u16,
    /// Network id: 3..=15 or 18.
    #[serde(default = "default_network_id")]
    pub network_id: u8,
    /// Centre frequency in Hz.
    #[serde(default = "default_band")]
    pub band_hz: u32,
    /// Spreading factor (7..=11 depending on bandwidth).
    #[serde(default = "default_sf")]
    pub spreading_factor: u8,
    /// Bandwidth in Hz: 125000, 250000 or 500000.
    #[serde(default = "default_bw")]
    pub bandwidth_hz: u32,
    /// Coding rate 1..=4 (4/5..4/8).
    #[serde(default = "default_cr")]
    pub coding_rate: u8,
    /// Preamble length (12 unless network id is 18).
    #[serde(default = "default_preamble")]
    pub preamble: u8,
    /// RF output power in dBm, 0..=22.
    #[serde(default = "default_power")]
    pub tx_power_dbm: u8,
    /// Optional domain password, 8 hex digits (not a security layer).
    #[serde(default)]
    pub cpin: Option<String>,
    /// Duty cycle in percent (EU868 g1: 1.0).
    #[serde(default = "default_duty")]
    pub duty_cycle_percent: f64,
}

fn default_baud() -> u32 {
    115_200
}
fn default_address() -> u16 {
    1
}
fn default_network_id() -> u8 {
    18
}
fn default_band() -> u32 {
    868_500_000
}
fn default_sf() -> u8 {
    9
}
fn default_bw() -> u32 {
    125_000
}
fn default_cr() -> u8 {
    1
}
fn default_preamble() -> u8 {
    12
}
fn default_power() -> u8 {
    22
}
fn default_duty() -> f64 {
    1.0
}

/// A configuration error naming the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// Why it is wrong.
    pub reason: String,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "rylr998 link: `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn err(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        reason: reason.into(),
    }
}

impl Rylr998Config {
    /// Settings for `device` with every default.
    pub fn new(device: impl Into<String>) -> Self {
        Self {
            device: device.into(),
            baud: default_baud(),
            address: default_address(),
            network_id: default_network_id(),
            band_hz: default_band(),
            spreading_factor: default_sf(),
            bandwidth_hz: default_bw(),
            coding_rate: default_cr(),
            preamble: default_preamble(),
            tx_power_dbm: default_power(),
            cpin: None,
            duty_cycle_percent: default_duty(),
        }
    }

    /// The modem parameters.
    pub fn modem(&self) -> Modem {
        Modem {
            sf: self.spreading_factor,
            bw_hz: self.bandwidth_hz,
            cr: self.coding_rate,
            preamble: self.preamble,
        }
    }

    /// Duty cycle in parts per million.
    pub fn duty_cycle_ppm(&self) -> u32 {
        (self.duty_cycle_percent * 10_000.0).round() as u32
    }

    /// The domain password as a number, if set.
    pub fn cpin_value(&self) -> Result<Option<u32>, ConfigError> {
        match &self.cpin {
            None => Ok(None),
            Some(s) => {
                if s.len() != 8 {
                    return Err(err("cpin", "must be exactly 8 hex digits"));
                }
                let v = u32::from_str_radix(s, 16).map_err(|_| err("cpin", "not hexadecimal"))?;
                if v == 0 {
                    return Err(err("cpin", "00000000 is not allowed"));
                }
                Ok(Some(v))
            }
        }
    }

    /// Check every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.device.is_empty() {
            return Err(err("device", "must name a serial device"));
        }
        if ![9600, 19_200, 38_400, 57_600, 115_200].contains(&self.baud) {
            return Err(err("baud", "must be 9600, 19200, 38400, 57600 or 115200"));
        }
        if self.address == 0 {
            return Err(err("address", "0 is the broadcast address"));
        }
        if !((3..=15).contains(&self.network_id) || self.network_id == 18) {
            return Err(err("network_id", "must be 3..=15 or 18"));
        }
        if !(100_000_000..=1_000_000_000).contains(&self.band_hz) {
            return Err(err("band_hz", "must be a frequency in Hz, e.g. 868500000"));
        }
        if self.tx_power_dbm > 22 {
            return Err(err("tx_power_dbm", "must be 0..=22"));
        }
        if !(self.duty_cycle_percent > 0.0 && self.duty_cycle_percent <= 100.0) {
            return Err(err("duty_cycle_percent", "must be in (0, 100]"));
        }
        self.cpin_value()?;
        self.modem().validate(self.network_id).map_err(|e| {
            let field = match e {
                crate::airtime::ModemError::SpreadingFactor => "spreading_factor",
                crate::airtime::ModemError::Bandwidth => "bandwidth_hz",
                crate::airtime::ModemError::CodingRate => "coding_rate",
                crate::airtime::ModemError::Preamble => "preamble",
            };
            err(field, std::format!("{e}"))
        })
    }

    /// How long to wait for `+OK` after an `AT+SEND` of `len` encoded bytes.
    pub fn send_timeout(&self, len: usize) -> Duration {
        self.modem().send_airtime(len) + Duration::from_secs(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn toml_defaults_and_errors() {
        let c: Rylr998Config = toml::from_str("device = \"/dev/ttyUSB0\"").unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.duty_cycle_ppm(), 10_000);
        let bad: Rylr998Config =
            toml::from_str("device = \"/dev/x\"\nspreading_factor = 11").unwrap();
        assert_eq!(bad.validate().unwrap_err().field, "spreading_factor");
        let bad: Rylr998Config = toml::from_str("device = \"/dev/x\"\ncpin = \"xyz\"").unwrap();
        assert_eq!(bad.validate().unwrap_err().field, "cpin");
        let bad: Rylr998Config = toml::from_str("device = \"/dev/x\"\naddress = 0").unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("address"));
        assert!(toml::from_str::<Rylr998Config>("device = \"/dev/x\"\nbogus = 1").is_err());
    }
}
