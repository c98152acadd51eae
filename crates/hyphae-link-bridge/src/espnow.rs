//! ESP-NOW link rules shared by the bridge and node firmwares, kept here so the host tests
//! them: channel validation, the radio peer table with least-recently-seen eviction (seed 004),
//! and the RSSI-to-quality mapping.

use crate::record::{BROADCAST_MAC, Mac};

/// Peers the ESP-NOW driver can hold (`ESP_NOW_MAX_TOTAL_PEER_NUM`).
pub const MAX_RADIO_PEERS: usize = 20;

/// Unicast peers a firmware can register: the driver keeps the broadcast address in one slot.
pub const UNICAST_PEER_SLOTS: usize = MAX_RADIO_PEERS - 1;

/// A Wi-Fi channel ESP-NOW may use: 1..=13. Channel 14 is legal only in Japan and only for
/// 802.11b, so hyphae never selects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(u8);

/// Why a channel number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelError {
    /// Channel 14 (Japan-only, 802.11b-only).
    Japan14,
    /// Not a 2.4 GHz channel (0 or above 14).
    OutOfRange,
}

impl core::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Japan14 => "channel 14 is Japan-only and never used by hyphae",
            Self::OutOfRange => "Wi-Fi channel must be 1..=13",
        })
    }
}

impl core::error::Error for ChannelError {}

impl Channel {
    /// The default channel (1: legal everywhere).
    pub const DEFAULT: Self = Self(1);

    /// A channel from its number.
    pub const fn new(n: u8) -> Result<Self, ChannelError> {
        match n {
            1..=13 => Ok(Self(n)),
            14 => Err(ChannelError::Japan14),
            _ => Err(ChannelError::OutOfRange),
        }
    }

    /// The channel number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Channel {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What [`PeerTable::touch`] did, i.e. what the firmware must tell the radio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// Already registered (or the broadcast address): nothing to do.
    Known,
    /// New peer in a free slot: register it with the radio.
    Added,
    /// The table was full: unregister `evicted` (the least recently seen), then register the
    /// new peer.
    Replaced {
        /// The peer that made room.
        evicted: Mac,
    },
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    mac: Mac,
    last_seen: u64,
}

/// The radio's unicast peer table as the firmware mirrors it: at most `N` peers; adding one
/// to a full table evicts the peer with the oldest `last_seen` (seed 004: "if the radio says
/// FULL, remove the peer with the smallest last_seen; adding an existing one only updates it").
///
/// Time is whatever monotonic tick the caller passes (milliseconds in the firmware).
#[derive(Debug, Clone)]
pub struct PeerTable<const N: usize = UNICAST_PEER_SLOTS> {
    slots: [Option<Slot>; N],
}

impl<const N: usize> Default for PeerTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PeerTable<N> {
    /// An empty table.
    pub const fn new() -> Self {
        Self { slots: [None; N] }
    }

    /// Registered peers.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether no peer is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `mac` is registered.
    pub fn contains(&self, mac: &Mac) -> bool {
        self.slots.iter().flatten().any(|s| s.mac == *mac)
    }

    /// When `mac` was last seen, if registered.
    pub fn last_seen(&self, mac: &Mac) -> Option<u64> {
        self.slots
            .iter()
            .flatten()
            .find(|s| s.mac == *mac)
            .map(|s| s.last_seen)
    }

    /// The registered peers, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = Mac> + '_ {
        self.slots.iter().flatten().map(|s| s.mac)
    }

    /// Record traffic with `mac` without registering it (frames received from a peer that is
    /// not registered do not take a slot).
    pub fn seen(&mut self, mac: &Mac, now: u64) {
        if let Some(s) = self.slots.iter_mut().flatten().find(|s| s.mac == *mac) {
            s.last_seen = s.last_seen.max(now);
        }
    }

    /// Make sure `mac` is registered before a unicast send, evicting the least recently seen
    /// peer when the table is full.
    pub fn touch(&mut self, mac: &Mac, now: u64) -> Touch {
        if *mac == BROADCAST_MAC {
            return Touch::Known;
        }
        if let Some(s) = self.slots.iter_mut().flatten().find(|s| s.mac == *mac) {
            s.last_seen = s.last_seen.max(now);
            return Touch::Known;
        }
        let new = Some(Slot {
            mac: *mac,
            last_seen: now,
        });
        if let Some(free) = self.slots.iter_mut().find(|s| s.is_none()) {
            *free = new;
            return Touch::Added;
        }
        let Some(oldest) = self.oldest_index() else {
            // N == 0: nothing can be registered; report as known so nothing is attempted.
            return Touch::Known;
        };
        let evicted = self.slots[oldest].map_or(*mac, |s| s.mac);
        self.slots[oldest] = new;
        Touch::Replaced { evicted }
    }

    /// Remove and return the least recently seen peer (for when the radio reports FULL although
    /// the mirror had room).
    pub fn evict_lru(&mut self) -> Option<Mac> {
        let i = self.oldest_index()?;
        self.slots[i].take().map(|s| s.mac)
    }

    /// Forget `mac`; returns whether it was registered.
    pub fn remove(&mut self, mac: &Mac) -> bool {
        match self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|s| s.mac == *mac))
        {
            Some(slot) => {
                *slot = None;
                true
            }
            None => false,
        }
    }

    fn oldest_index(&self) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s.last_seen)))
            .min_by_key(|&(i, t)| (t, i))
            .map(|(i, _)| i)
    }
}

/// Link quality 0..=255 from an RSSI in dBm: linear from -95 dBm (0) to -35 dBm (255),
/// clamped. ESP32 receivers bottom out near -95 dBm at 1 Mbit/s.
pub const fn rssi_quality(rssi_dbm: i16) -> u8 {
    const FLOOR: i32 = -95;
    const CEIL: i32 = -35;
    let r = rssi_dbm as i32;
    if r <= FLOOR {
        0
    } else if r >= CEIL {
        255
    } else {
        ((r - FLOOR) * 255 / (CEIL - FLOOR)) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::v1::*;
    use std::vec;

    #[test]
    fn channels() {
        assert_eq!(Channel::default().get(), 1);
        assert_eq!(Channel::new(13).map(Channel::get), Ok(13));
        assert_eq!(Channel::new(14), Err(ChannelError::Japan14));
        assert_eq!(Channel::new(0), Err(ChannelError::OutOfRange));
        assert_eq!(Channel::new(15), Err(ChannelError::OutOfRange));
    }

    #[test]
    fn lru_eviction_follows_seed_004() {
        let mut t = PeerTable::<3>::new();
        let m = |b: u8| [b; 6];
        assert_eq!(t.touch(&m(1), 10), Touch::Added);
        assert_eq!(t.touch(&m(2), 20), Touch::Added);
        assert_eq!(t.touch(&m(3), 30), Touch::Added);
        // Adding an existing peer only updates it.
        assert_eq!(t.touch(&m(1), 40), Touch::Known);
        // Received traffic refreshes too.
        t.seen(&m(2), 50);
        // Full: 3 is now the least recently seen.
        assert_eq!(t.touch(&m(4), 60), Touch::Replaced { evicted: m(3) });
        assert!(!t.contains(&m(3)));
        assert_eq!(t.len(), 3);
        assert_eq!(t.touch(&BROADCAST_MAC, 70), Touch::Known);
        assert!(!t.contains(&BROADCAST_MAC));
        assert_eq!(t.evict_lru(), Some(m(1)));
        assert!(t.remove(&m(2)));
        assert!(!t.remove(&m(2)));
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![m(4)]);
        // Time never goes backwards for a peer.
        t.seen(&m(4), 1);
        assert_eq!(t.last_seen(&m(4)), Some(60));
    }

    #[test]
    fn radio_table_size() {
        let mut t = PeerTable::<UNICAST_PEER_SLOTS>::new();
        for i in 0..UNICAST_PEER_SLOTS as u8 {
            assert_eq!(t.touch(&[i; 6], u64::from(i)), Touch::Added);
        }
        assert_eq!(t.touch(&[99; 6], 100), Touch::Replaced { evicted: [0; 6] });
        let empty = PeerTable::<0>::new();
        assert!(empty.is_empty());
    }

    #[test]
    fn quality() {
        assert_eq!(rssi_quality(-120), 0);
        assert_eq!(rssi_quality(-95), 0);
        assert_eq!(rssi_quality(-35), 255);
        assert_eq!(rssi_quality(0), 255);
        assert!(rssi_quality(-60) > rssi_quality(-80));
    }
}
