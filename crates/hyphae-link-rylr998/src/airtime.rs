//! LoRa time on air (Semtech AN1200.13, SX126x rules for SF5/6) and the duty-cycle budget.

use core::time::Duration;

/// Bytes the RYLR-998 adds on air to every `AT+SEND` payload.
pub const MODULE_OVERHEAD: usize = 8;

/// Modem parameters as `AT+PARAMETER` sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modem {
    /// Spreading factor 5..=11.
    pub sf: u8,
    /// Bandwidth in Hz: 125 000, 250 000 or 500 000.
    pub bw_hz: u32,
    /// Coding rate 1..=4 for 4/5..4/8.
    pub cr: u8,
    /// Preamble length in symbols.
    pub preamble: u8,
}

impl Default for Modem {
    /// The module's default `9,7,1,12`.
    fn default() -> Self {
        Self {
            sf: 9,
            bw_hz: 125_000,
            cr: 1,
            preamble: 12,
        }
    }
}

/// Why modem parameters are not legal for the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModemError {
    /// Spreading factor outside what the bandwidth allows (SF7–9 at 125 kHz, 7–10 at 250 kHz,
    /// 7–11 at 500 kHz).
    SpreadingFactor,
    /// Bandwidth other than 125, 250 or 500 kHz.
    Bandwidth,
    /// Coding rate outside 1..=4.
    CodingRate,
    /// Preamble other than 12 with a network id other than 18, or outside 4..=24.
    Preamble,
}

impl core::fmt::Display for ModemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::SpreadingFactor => "spreading factor not allowed at this bandwidth",
            Self::Bandwidth => "bandwidth must be 125000, 250000 or 500000 Hz",
            Self::CodingRate => "coding rate must be 1..=4 (4/5..4/8)",
            Self::Preamble => "preamble must be 12 unless network id is 18 (then 4..=24)",
        })
    }
}

impl core::error::Error for ModemError {}

impl Modem {
    /// The module's bandwidth code (7, 8, 9).
    pub fn bw_code(&self) -> Option<u8> {
        match self.bw_hz {
            125_000 => Some(7),
            250_000 => Some(8),
            500_000 => Some(9),
            _ => None,
        }
    }

    /// Check the parameters against the module's rules for `network_id`.
    pub fn validate(&self, network_id: u8) -> Result<(), ModemError> {
        let max_sf = match self.bw_code().ok_or(ModemError::Bandwidth)? {
            7 => 9,
            8 => 10,
            _ => 11,
        };
        if !(7..=max_sf).contains(&self.sf) {
            return Err(ModemError::SpreadingFactor);
        }
        if !(1..=4).contains(&self.cr) {
            return Err(ModemError::CodingRate);
        }
        let ok = if network_id == 18 {
            (4..=24).contains(&self.preamble)
        } else {
            self.preamble == 12
        };
        if !ok {
            return Err(ModemError::Preamble);
        }
        Ok(())
    }

    /// Time on air of `on_air_len` payload bytes (CRC on, explicit header).
    pub fn time_on_air(&self, on_air_len: usize) -> Duration {
        Duration::from_micros(time_on_air_us(
            on_air_len as u32,
            u32::from(self.sf),
            self.bw_hz,
            u32::from(self.cr),
            u32::from(self.preamble),
            true,
            true,
        ))
    }

    /// Time on air of one `AT+SEND` of `data_len` bytes (the module adds 8).
    pub fn send_airtime(&self, data_len: usize) -> Duration {
        self.time_on_air(data_len + MODULE_OVERHEAD)
    }
}

/// Time on air in microseconds (AN1200.13; SX126x rules for SF5/6).
pub fn time_on_air_us(
    payload_len: u32,
    sf: u32,
    bw_hz: u32,
    cr: u32,
    preamble: u32,
    crc: bool,
    explicit_header: bool,
) -> u64 {
    let sf = sf.clamp(5, 12);
    let t_sym_us = (1u64 << sf) * 1_000_000 / u64::from(bw_hz.max(1));
    let ldro = t_sym_us > 16_000;
    let pl = i64::from(payload_len);
    let sf_i = i64::from(sf);
    let crc_bits = if crc { 16 } else { 0 };
    let (num, den, preamble_q) = if sf >= 7 {
        let implicit = if explicit_header { 0 } else { 20 };
        let den = 4 * (sf_i - if ldro { 2 } else { 0 });
        (
            8 * pl - 4 * sf_i + 28 + crc_bits - implicit,
            den,
            4 * u64::from(preamble) + 17,
        )
    } else {
        let header = if explicit_header { 20 } else { 0 };
        (
            8 * pl + crc_bits - 4 * sf_i + header,
            4 * sf_i,
            4 * u64::from(preamble.max(12)) + 25,
        )
    };
    let blocks = (num.max(0) + den - 1) / den;
    let payload_symbols = 8 + blocks as u64 * (u64::from(cr) + 4);
    preamble_q * t_sym_us / 4 + payload_symbols * t_sym_us
}

/// A duty-cycle budget: after a frame of duration `t`, the band is silent for
/// `t · (1/dc − 1)` (ETSI EN 300 220 as LoRaMac-node applies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DutyCycle {
    /// Allowed fraction in parts per million (1 % = 10 000).
    pub ppm: u32,
    /// Microsecond timestamp (caller's clock) before which the band must stay silent.
    next_allowed_us: u64,
    used_us: u64,
}

impl DutyCycle {
    /// A budget allowing `ppm` parts per million of airtime.
    pub const fn new(ppm: u32) -> Self {
        Self {
            ppm,
            next_allowed_us: 0,
            used_us: 0,
        }
    }

    /// When a transmission may start, given `now_us`.
    pub fn ready_at(&self, now_us: u64) -> u64 {
        now_us.max(self.next_allowed_us)
    }

    /// Charge a transmission of `airtime` starting at `now_us`.
    pub fn charge(&mut self, now_us: u64, airtime: Duration) {
        let t = airtime.as_micros() as u64;
        self.used_us += t;
        if self.ppm >= 1_000_000 {
            return;
        }
        let silence = t.saturating_mul(1_000_000 / u64::from(self.ppm.max(1)) - 1);
        self.next_allowed_us = now_us + t + silence;
    }

    /// Total airtime charged.
    pub fn used(&self) -> Duration {
        Duration::from_micros(self.used_us)
    }

    /// Frames of `airtime` the budget allows per hour.
    pub fn frames_per_hour(&self, airtime: Duration) -> u64 {
        let t = airtime.as_micros() as u64;
        if t == 0 {
            return u64::MAX;
        }
        3_600_000_000u64.saturating_mul(u64::from(self.ppm)) / 1_000_000 / t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radios_md_vectors() {
        let v: [(u32, u32, u32, u32, u64); 10] = [
            (10, 7, 125_000, 8, 41_216),
            (10, 11, 125_000, 8, 577_536),
            (13, 9, 125_000, 8, 164_864),
            (240, 9, 125_000, 8, 1_188_864),
            (248, 9, 125_000, 12, 1_246_208),
            (240, 7, 125_000, 8, 379_136),
            (248, 7, 125_000, 12, 393_472),
            (248, 7, 500_000, 12, 98_368),
            (248, 11, 500_000, 12, 1_041_408),
            (10, 5, 125_000, 8, 13_120),
        ];
        for (pl, sf, bw, pre, want) in v {
            assert_eq!(
                time_on_air_us(pl, sf, bw, 1, pre, true, true),
                want,
                "{pl} SF{sf} {bw} {pre}"
            );
        }
    }

    #[test]
    fn full_send_at_default_parameters() {
        let m = Modem::default();
        assert_eq!(m.send_airtime(240), Duration::from_micros(1_246_208));
        let sf7 = Modem { sf: 7, ..m };
        assert_eq!(sf7.send_airtime(240), Duration::from_micros(393_472));
    }

    #[test]
    fn validation() {
        assert!(Modem::default().validate(18).is_ok());
        assert_eq!(
            Modem {
                sf: 10,
                ..Modem::default()
            }
            .validate(18),
            Err(ModemError::SpreadingFactor)
        );
        assert!(
            Modem {
                sf: 10,
                bw_hz: 250_000,
                ..Modem::default()
            }
            .validate(18)
            .is_ok()
        );
        assert_eq!(
            Modem {
                preamble: 8,
                ..Modem::default()
            }
            .validate(5),
            Err(ModemError::Preamble)
        );
        assert_eq!(
            Modem {
                bw_hz: 62_500,
                ..Modem::default()
            }
            .validate(18),
            Err(ModemError::Bandwidth)
        );
    }

    #[test]
    fn eu868_one_percent() {
        let mut d = DutyCycle::new(10_000);
        let t = Modem::default().send_airtime(240);
        assert_eq!(d.frames_per_hour(t), 28);
        assert_eq!(d.ready_at(0), 0);
        d.charge(0, t);
        // silence = 99 × ToA after the frame ends
        assert_eq!(d.ready_at(0), 1_246_208 * 100);
    }
}
