//! Configuration of a bridge link, as `hyphae node` reads it from its TOML file.

use serde::{Deserialize, Serialize};
use std::string::String;

use crate::espnow::{Channel, ChannelError};

/// Configuration of one `espnow-bridge` link.
///
/// In a node's configuration file the host selects it with `type = "espnow-bridge"` (see
/// [`BridgeConfig::TYPE`]); the other keys are this struct's fields, all optional except
/// `port`:
///
/// ```toml
/// [[link]]
/// type = "espnow-bridge"
/// port = "/dev/ttyACM0"
/// channel = 1
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BridgeConfig {
    /// Serial device of the bridge (`/dev/ttyACM0` for the ESP32-C3's built-in USB port).
    pub port: String,
    /// Baud rate (a UART bridge; ignored by USB-serial-JTAG).
    pub baud: u32,
    /// ESP-NOW channel, 1..=13 (14 is rejected).
    pub channel: u8,
    /// How long to wait for the bridge's ACK of each record, in milliseconds.
    pub ack_timeout_ms: u64,
    /// HELLO attempts when opening the link (the board may still be booting).
    pub hello_attempts: u8,
}

impl BridgeConfig {
    /// The `type` value that selects this link in a node's configuration.
    pub const TYPE: &'static str = "espnow-bridge";

    /// A configuration for `port` with every other field at its default.
    pub fn new(port: impl Into<String>) -> Self {
        Self {
            port: port.into(),
            ..Self::default()
        }
    }

    /// Check the values; the link refuses to open with an invalid configuration.
    pub fn validate(&self) -> Result<Channel, ConfigError> {
        if self.port.is_empty() {
            return Err(ConfigError::NoPort);
        }
        if self.baud == 0 || self.ack_timeout_ms == 0 || self.hello_attempts == 0 {
            return Err(ConfigError::Zero);
        }
        Channel::new(self.channel).map_err(ConfigError::Channel)
    }
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            port: String::from("/dev/ttyACM0"),
            baud: 115_200,
            channel: Channel::DEFAULT.get(),
            ack_timeout_ms: 500,
            hello_attempts: 5,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `port` is empty.
    NoPort,
    /// `baud`, `ack_timeout_ms` or `hello_attempts` is 0.
    Zero,
    /// A channel outside 1..=13.
    Channel(ChannelError),
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoPort => f.write_str("espnow-bridge: `port` is empty"),
            Self::Zero => {
                f.write_str("espnow-bridge: baud, ack_timeout_ms and hello_attempts must be > 0")
            }
            Self::Channel(e) => write!(f, "espnow-bridge: {e}"),
        }
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = BridgeConfig::new("/dev/ttyUSB0");
        assert_eq!(c.validate(), Ok(Channel::DEFAULT));
        let c = BridgeConfig {
            channel: 14,
            ..BridgeConfig::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::Channel(ChannelError::Japan14))
        );
        let c = BridgeConfig::new("");
        assert_eq!(c.validate(), Err(ConfigError::NoPort));
    }
}
