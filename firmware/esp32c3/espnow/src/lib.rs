//! hyphae's ESP-NOW link adapter for the ESP32-C3.
//!
//! A thin shim over esp-radio's (unstable) ESP-NOW API. The rules it follows live in the
//! host-tested `hyphae_link_bridge::espnow` module: the channel is 1..=13 (never 14), unicast
//! peers are registered on demand in the radio's 20-entry table (one entry is the broadcast
//! address) and the least recently seen peer is evicted when it is full (seed 004), and every
//! received frame carries its RSSI.

#![no_std]

extern crate alloc;

use esp_radio::esp_now::{
    BROADCAST_ADDRESS, EspNow, EspNowError, EspNowWifiInterface, PeerInfo, ReceivedData,
};
use hyphae_link_bridge::ErrorCode;
use hyphae_link_bridge::espnow::{Channel, PeerTable, Touch};
use hyphae_link_bridge::record::{MAX_PAYLOAD, Mac};

/// A frame heard on the radio.
pub struct Frame {
    /// Sender MAC.
    pub src: Mac,
    /// Whether it was addressed to the broadcast MAC.
    pub broadcast: bool,
    /// RSSI in dBm, clamped to `i8`.
    pub rssi: i8,
    raw: ReceivedData,
}

impl Frame {
    /// The payload.
    pub fn data(&self) -> &[u8] {
        self.raw.data()
    }
}

/// Counters since boot (wrapping).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// Frames received.
    pub rx: u32,
    /// Frames sent (and, for unicast, acknowledged by the peer's MAC).
    pub tx: u32,
    /// Unicast frames the peer did not acknowledge.
    pub no_ack: u32,
    /// Peers evicted from the radio table.
    pub evictions: u32,
}

/// The ESP-NOW link: one radio, one channel.
pub struct EspNowLink {
    radio: EspNow,
    peers: PeerTable,
    channel: Channel,
    mac: Mac,
    /// Counters since boot.
    pub counters: Counters,
}

fn peer(mac: &Mac) -> PeerInfo {
    PeerInfo {
        interface: EspNowWifiInterface::Station,
        peer_address: *mac,
        lmk: None,
        channel: None,
        encrypt: false,
    }
}

impl EspNowLink {
    /// Wrap an ESP-NOW instance and tune it to `channel`.
    pub fn new(radio: EspNow, channel: Channel) -> Result<Self, ErrorCode> {
        let mac =
            esp_hal::efuse::interface_mac_address(esp_hal::efuse::InterfaceMacAddress::Station);
        let mut m = [0u8; 6];
        m.copy_from_slice(mac.as_bytes());
        let mut link = Self {
            radio,
            peers: PeerTable::new(),
            channel,
            mac: m,
            counters: Counters::default(),
        };
        link.set_channel(channel)?;
        Ok(link)
    }

    /// The radio's own MAC.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The current channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Unicast peers registered with the radio.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Retune. Registered peers follow the primary channel (they were added with channel 0).
    pub fn set_channel(&mut self, channel: Channel) -> Result<(), ErrorCode> {
        self.radio
            .set_channel(channel.get())
            .map_err(|_| ErrorCode::Radio)?;
        self.channel = channel;
        Ok(())
    }

    /// Make sure `dst` is in the radio's peer table, evicting the least recently seen peer if
    /// the table is full.
    pub fn register(&mut self, dst: &Mac, now_ms: u64) -> Result<(), ErrorCode> {
        match self.peers.touch(dst, now_ms) {
            Touch::Known => {
                if *dst != BROADCAST_ADDRESS && !self.radio.peer_exists(dst) {
                    self.add(dst)?;
                }
            }
            Touch::Added => self.add(dst)?,
            Touch::Replaced { evicted } => {
                self.counters.evictions = self.counters.evictions.wrapping_add(1);
                let _ = self.radio.remove_peer(&evicted);
                self.add(dst)?;
            }
        }
        Ok(())
    }

    fn add(&mut self, dst: &Mac) -> Result<(), ErrorCode> {
        use esp_radio::esp_now::Error;
        match self.radio.add_peer(peer(dst)) {
            Ok(()) | Err(EspNowError::Error(Error::PeerExists)) => Ok(()),
            Err(EspNowError::Error(Error::PeerListFull)) => {
                // The radio is fuller than the mirror thinks: make room the same way.
                let victim = self.peers.evict_lru().ok_or(ErrorCode::PeerTable)?;
                let _ = self.radio.remove_peer(&victim);
                self.counters.evictions = self.counters.evictions.wrapping_add(1);
                if victim == *dst {
                    return Err(ErrorCode::PeerTable);
                }
                self.radio.add_peer(peer(dst)).map_err(|_| {
                    self.peers.remove(dst);
                    ErrorCode::PeerTable
                })
            }
            Err(_) => {
                self.peers.remove(dst);
                Err(ErrorCode::PeerTable)
            }
        }
    }

    /// Send `data` to `dst` (broadcast or unicast) and wait for the send callback; for
    /// unicast, `NoAck` means the peer's MAC layer did not acknowledge.
    pub fn send(&mut self, dst: &Mac, data: &[u8], now_ms: u64) -> Result<(), ErrorCode> {
        if data.is_empty() || data.len() > MAX_PAYLOAD {
            return Err(ErrorCode::TooLarge);
        }
        self.register(dst, now_ms)?;
        let waiter = self.radio.send(dst, data).map_err(|_| ErrorCode::Radio)?;
        match waiter.wait() {
            Ok(()) => {
                self.counters.tx = self.counters.tx.wrapping_add(1);
                Ok(())
            }
            Err(EspNowError::SendFailed) => {
                self.counters.no_ack = self.counters.no_ack.wrapping_add(1);
                Err(ErrorCode::NoAck)
            }
            Err(_) => Err(ErrorCode::Radio),
        }
    }

    /// The next received frame, if any (non-blocking).
    pub fn receive(&mut self, now_ms: u64) -> Option<Frame> {
        let raw = self.radio.receive()?;
        let src = raw.info.src_address;
        self.peers.seen(&src, now_ms);
        self.counters.rx = self.counters.rx.wrapping_add(1);
        let rssi = raw.info.rx_control.rssi.clamp(i32::from(i8::MIN), 0);
        Some(Frame {
            src,
            broadcast: raw.info.dst_address == BROADCAST_ADDRESS,
            rssi: i8::try_from(rssi).unwrap_or(i8::MIN),
            raw,
        })
    }
}

/// Milliseconds since boot.
pub fn now_ms() -> u64 {
    esp_hal::time::Instant::now()
        .duration_since_epoch()
        .as_millis()
}
