//! Radio models: how long a frame occupies the medium, how far it reaches, and what a link
//! looks like to the node (`LinkInfo`).
//!
//! - **ESP-NOW** (802.11b DSSS, long preamble; `RADIOS.md` §1.3): a unicast frame occupies
//!   `DIFS + backoff + PLCP + MPDU + SIFS + ACK`; broadcast has no ACK. Carrier sense with
//!   random backoff (0–31 slots of 20 µs) before each frame; collisions between hidden
//!   terminals. The send callback reports the MAC acknowledgement (`LinkEvent::TxDone`).
//! - **LoRa** (RYLR-998): time on air from the Semtech formula for the frame's encoded
//!   length (`hyphae_link_rylr998`), no carrier sense (ALOHA), the band's duty cycle enforced
//!   by the node's own airtime budget and accounted by the simulator.
//! - **UDP**: a switched LAN: 200 µs latency plus serialisation at 100 Mbit/s, full duplex,
//!   no collisions.

use hyphae_link::{LinkInfo, LinkKind};
use hyphae_link_rylr998::Modem;

use crate::rng::Rng;
use crate::scenario::Scenario;

/// The medium a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Radio {
    /// ESP-NOW at `rate` Mbit/s with `mtu`-byte frames (250 or 1470).
    EspNow {
        /// PHY rate in Mbit/s.
        rate: f64,
        /// Frame MTU.
        mtu: usize,
    },
    /// LoRa through RYLR-998 modules.
    Lora {
        /// Modem parameters.
        modem: Modem,
        /// Duty cycle in parts per million.
        duty_ppm: u32,
    },
    /// UDP over a LAN.
    Udp,
}

/// 802.11 timings, µs.
const SLOT_US: u64 = 20;
const DIFS_US: u64 = 50;
const CW_SLOTS: u64 = 32;
const CW_DOUBLINGS: u32 = 5;
const SIFS_US: u64 = 10;
const PLCP_US: u64 = 192;
const ACK_BITS: u64 = 14 * 8;

impl Radio {
    /// The radio a scenario asks for.
    pub fn from_scenario(sc: &Scenario) -> Self {
        match sc.link.as_str() {
            "lora" => Self::Lora {
                modem: sc.modem(),
                duty_ppm: (sc.lora.duty_cycle * 1e6).round() as u32,
            },
            "udp" => Self::Udp,
            "espnow-v2" => Self::EspNow {
                rate: sc.phy_rate,
                mtu: 1470,
            },
            _ => Self::EspNow {
                rate: sc.phy_rate,
                mtu: 250,
            },
        }
    }

    /// The link as the node's links table sees it.
    pub fn link_info(&self) -> LinkInfo {
        match *self {
            Self::EspNow { rate, mtu } => {
                let mut i = LinkInfo::for_kind(if mtu > 250 {
                    LinkKind::EspNowV2
                } else {
                    LinkKind::EspNowV1
                });
                i.bitrate = (rate * 1e6) as u32;
                i
            }
            Self::Lora { modem, duty_ppm } => {
                let mut i = LinkInfo::for_kind(LinkKind::LoraRylr998);
                // The CRLF-free block encoding costs up to 4 of the module's 240 bytes.
                i.mtu = hyphae_link_rylr998::encoding::MAX_FRAME;
                let full = modem.send_airtime(hyphae_link_rylr998::encoding::MAX_DATAGRAM);
                i.bitrate = ((240.0 * 8.0) / full.as_secs_f64()) as u32;
                i.duty_cycle_ppm = duty_ppm;
                i
            }
            Self::Udp => LinkInfo::for_kind(LinkKind::Udp),
        }
    }

    /// Frame MTU in bytes.
    pub fn mtu(&self) -> usize {
        self.link_info().mtu
    }

    /// Microseconds a frame of `len` bytes keeps the medium busy once it starts (data, plus
    /// SIFS and the MAC acknowledgement for ESP-NOW unicast).
    pub fn airtime_us(&self, len: usize, unicast: bool) -> u64 {
        match *self {
            Self::EspNow { rate, .. } => {
                let n_el = len.div_ceil(250).max(1);
                // MAC header 24, category 1, OUI 3, random 4, vendor elements 7 each, FCS 4.
                let mpdu = (24 + 1 + 3 + 4 + 7 * n_el + len + 4) as f64;
                let t = PLCP_US + (mpdu * 8.0 / rate).ceil() as u64;
                if unicast {
                    t + SIFS_US + PLCP_US + ACK_BITS
                } else {
                    t
                }
            }
            Self::Lora { modem, .. } => {
                // What the module sends: the frame after the block encoding.
                let enc = len + len.div_ceil(hyphae_link_rylr998::encoding::MAX_RUN).max(1);
                let enc = enc.min(hyphae_link_rylr998::encoding::MAX_DATAGRAM);
                modem.send_airtime(enc).as_micros() as u64
            }
            Self::Udp => 200 + (len as u64 * 8).div_ceil(100),
        }
    }

    /// Channel-access delay before a frame: DIFS plus a random backoff for ESP-NOW (carrier
    /// sense), nothing for LoRa and UDP. The contention window doubles with each
    /// unacknowledged unicast attempt in a row (`failures`), from 32 up to 1024 slots, as an
    /// 802.11 MAC does; that is what separates two hidden terminals.
    pub fn access_delay_us(&self, failures: u32, rng: &mut Rng) -> u64 {
        match self {
            Self::EspNow { .. } => {
                DIFS_US + SLOT_US * rng.below(CW_SLOTS << failures.min(CW_DOUBLINGS))
            }
            _ => 0,
        }
    }

    /// Whether the medium is shared (half duplex, collisions, carrier sense where the radio
    /// has it).
    pub fn shared_medium(&self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// Whether the radio senses the carrier before sending.
    pub fn carrier_sense(&self) -> bool {
        matches!(self, Self::EspNow { .. })
    }

    /// Whether the link reports the MAC acknowledgement of unicast frames.
    pub fn reports_tx(&self) -> bool {
        matches!(self, Self::EspNow { .. })
    }

    /// The loss-free unicast goodput limit for a blob of `size` bytes: full frames back to
    /// back (hyphae's fragment and Package headers included; no acks, retransmissions or idle
    /// time), with the mean channel-access delay; `secure` frames carry 21 bytes of security
    /// header and tag.
    pub fn goodput_limit_bps(&self, size: usize, secure: bool) -> f64 {
        let mtu = self.mtu();
        // FragmentLarge: 2-byte header + 6-byte fragment header; the Package adds 10 bytes.
        let overhead = 8 + if secure { 21 } else { 0 };
        let per = mtu.saturating_sub(overhead).max(1);
        let frames = (size + 10).div_ceil(per);
        let access = match self {
            Self::EspNow { .. } => (DIFS_US + SLOT_US * (CW_SLOTS - 1) / 2) as f64,
            _ => 0.0,
        };
        let t_us = frames as f64 * (self.airtime_us(mtu, true) as f64 + access);
        let t_us = match self {
            Self::Lora { duty_ppm, .. } if *duty_ppm < 1_000_000 => {
                t_us * 1e6 / f64::from(*duty_ppm)
            }
            _ => t_us,
        };
        size as f64 * 8.0 / (t_us / 1e6)
    }
}

/// Log-distance path loss with log-normal shadowing per link and a logistic loss curve
/// around the receiver's sensitivity, scaled so the nominal range has a 3 dB margin.
#[derive(Debug, Clone, Copy)]
pub struct PathLoss {
    /// Path-loss exponent.
    pub exponent: f64,
    /// Nominal range in metres.
    pub range: f64,
    /// Shadowing standard deviation in dB.
    pub shadowing_db: f64,
    /// Width of the loss curve in dB.
    pub curve_db: f64,
}

impl PathLoss {
    /// The model for a nominal range.
    pub fn new(range: f64) -> Self {
        Self {
            exponent: 2.7,
            range,
            shadowing_db: 2.0,
            curve_db: 1.5,
        }
    }

    /// Margin above sensitivity in dB at distance `d` with shadowing `shadow_db`.
    pub fn margin_db(&self, d: f64, shadow_db: f64) -> f64 {
        let d = d.max(1.0);
        3.0 - 10.0 * self.exponent * (d / self.range).log10() + shadow_db
    }

    /// Frame loss probability at a margin.
    pub fn loss(&self, margin_db: f64) -> f64 {
        1.0 / (1.0 + (margin_db / self.curve_db).exp())
    }

    /// RSSI in dBm to report at a margin (sensitivity −95 dBm).
    pub fn rssi(&self, margin_db: f64) -> i16 {
        (-95.0 + margin_db).round().clamp(-127.0, 0.0) as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn espnow_matches_the_reference_model() {
        let r = Radio::EspNow {
            rate: 1.0,
            mtu: 250,
        };
        // RADIOS.md §1.3: 250-byte unicast at 1 Mbit/s: PLCP 192 + 8 · 293 + SIFS + ACK.
        assert_eq!(r.airtime_us(250, true), 192 + 8 * 293 + 10 + 192 + 112);
        assert_eq!(r.airtime_us(250, false), 192 + 8 * 293);
        let limit = r.goodput_limit_bps(65_536, false);
        assert!(r.goodput_limit_bps(65_536, true) < limit * 0.92);
        assert!((600_000.0..700_000.0).contains(&limit), "{limit}");
    }

    #[test]
    fn lora_uses_the_semtech_formula() {
        let r = Radio::Lora {
            modem: Modem::default(),
            duty_ppm: 10_000,
        };
        // RADIOS.md: a full 240-byte send at SF9/125 kHz takes 1246.2 ms.
        let t = r.airtime_us(236, false);
        assert!((1_200_000..1_260_000).contains(&t), "{t}");
        assert_eq!(r.mtu(), 236);
        assert!(!r.carrier_sense());
    }

    #[test]
    fn path_loss_curve() {
        let p = PathLoss::new(100.0);
        assert!(p.loss(p.margin_db(10.0, 0.0)) < 0.001);
        let at_range = p.loss(p.margin_db(100.0, 0.0));
        assert!((0.05..0.2).contains(&at_range), "{at_range}");
        assert!(p.loss(p.margin_db(200.0, 0.0)) > 0.95);
    }
}
