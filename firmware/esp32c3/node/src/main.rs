//! hyphae mesh node firmware for the ESP32-C3 over ESP-NOW.
//!
//! A thin shell around `hyphae_core::Node` (sans-IO): it feeds the node every ESP-NOW frame with
//! its RSSI, puts the node's frames on the air through the ESP-NOW link adapter (unicast peers
//! registered on demand, least recently seen evicted when the radio's table is full), runs its
//! timers, and lets the modem sleep when the core says "may sleep until" (feature `sleepy`).
//! The node sends beacons and forwards frames (the core's routing), and runs a sensor
//! application that publishes the chip's temperature to the nearest gateway with the
//! device–gateway protocol.
//!
//! **Secure by default** (`docs/spec/security.md` §16): the node keeps its Ed25519 identity and
//! its frame-counter journal in the `nvs` partition and reads the provisioning record (network,
//! key, credential, admins) the admin wrote there with `espflash write-bin`. With a valid record
//! for its identity it seals and checks every frame and persists each counter reservation before
//! using it; without one it logs its public key and waits, unprovisioned: it never joins the mesh
//! without security. The cargo feature `lab-insecure` (off by default) skips all of this and runs
//! the lab mode, every frame in clear.

#![no_std]
#![no_main]

#[cfg(not(feature = "lab-insecure"))]
mod nvs;

use core::time::Duration;

use esp_alloc as _;
use esp_backtrace as _;
use esp_hal::{clock::CpuClock, main, timer::timg::TimerGroup, tsens::TemperatureSensor};
use esp_radio::wifi::PowerSaveMode;
#[cfg(not(feature = "lab-insecure"))]
use esp_storage::FlashStorage;
use hyphae_core::{Config, Event, Instant, LinkAddr, LinkInfo, LinkKind, Node, RxMeta};
use hyphae_fw_espnow::{EspNowLink, now_ms};
use hyphae_fw_logic::device_app;
#[cfg(not(feature = "lab-insecure"))]
use hyphae_fw_logic::{
    secure::{self, Hex, Unprovisioned},
    storage::{Nvs, PROVISION},
};
use hyphae_link_bridge::espnow::Channel;
use hyphae_wire::beacon::Capabilities;
use static_cell::StaticCell;

esp_bootloader_esp_idf::esp_app_desc!();

/// The node's capacities: 16 peers, 4 + 4 transfers, 16 KiB of reassembly, 8 KiB of outbound
/// buffer, 250-byte ESP-NOW frames. Statically allocated (it shows in `.bss`).
pub type FwNode = Node<16, 4, 12_288, 6_144, 250>;

static NODE: StaticCell<FwNode> = StaticCell::new();

/// Heap for the Wi-Fi blobs and the driver's receive queue (the core allocates nothing).
const HEAP_SIZE: usize = 72 * 1024;
/// The ESP-NOW channel (1..=13; the regulatory default is 1).
const CHANNEL: u8 = 1;
/// How often the sensor publishes.
const PUBLISH_INTERVAL: Duration = Duration::from_secs(30);
/// Longest the main loop idles before polling the radio again while awake.
const AWAKE_POLL: Duration = Duration::from_millis(2);
const SLEEPY: bool = cfg!(feature = "sleepy");
/// How often an unprovisioned node repeats what it needs.
#[cfg(not(feature = "lab-insecure"))]
const UNPROVISIONED_REMINDER: Duration = Duration::from_secs(60);

fn now() -> Instant {
    Instant::from_micros(
        esp_hal::time::Instant::now()
            .duration_since_epoch()
            .as_micros(),
    )
}

/// Idle the CPU (the RTOS idle hook waits for an interrupt) until `until`, at most `max`.
fn idle(now: Instant, until: Option<Instant>, max: Duration) {
    let d = until.map_or(max, |u| u.saturating_since(now).min(max));
    if !d.is_zero() {
        esp_rtos::CurrentThreadHandle::get()
            .delay(esp_hal::time::Duration::from_micros(d.as_micros() as u64));
    }
}

#[main]
fn main() -> ! {
    esp_println::logger::init_logger_from_env();
    let peripherals = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    esp_alloc::heap_allocator!(size: HEAP_SIZE);

    let timg0 = TimerGroup::new(peripherals.TIMG0);
    esp_rtos::start(timg0.timer0, peripherals.FROM_CPU_INTR0);

    let mut wifi = match esp_radio::wifi::WifiController::new(peripherals.WIFI, Default::default())
    {
        Ok(w) => w,
        Err(e) => panic!("wifi init: {e:?}"),
    };
    let channel = match Channel::new(CHANNEL) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let mut link = match EspNowLink::new(wifi.esp_now(), channel) {
        Ok(l) => l,
        Err(e) => panic!("esp-now init: {e}"),
    };
    let mac = link.mac();

    // The RNG is a true RNG while the radio runs.
    let rng = esp_hal::rng::Rng::new();
    log::info!("hyphae node, MAC {:02x?}, channel {}", mac, channel.get());

    let tsens = TemperatureSensor::new(peripherals.TSENS, Default::default()).ok();

    let mut config = Config::default();
    if SLEEPY {
        config.sleepy = true;
        config.capabilities = Capabilities::LEAF;
    }

    #[cfg(not(feature = "lab-insecure"))]
    let mut flash = FlashStorage::new(peripherals.FLASH);
    #[cfg(not(feature = "lab-insecure"))]
    let (mut nvs, id, security) = {
        let region = nvs::NvsFlash::open(&mut flash);
        let record_at = region.as_ref().map(|r| r.address(PROVISION));
        let mut nvs = region.and_then(|r| Nvs::new(r).ok());
        let started = match nvs.as_mut() {
            Some(n) => secure::start(n, |b| rng.read(b), None),
            None => Err(Unprovisioned::Storage(
                hyphae_core::security::hyphae_crypto::Error::Storage,
            )),
        };
        match (started, nvs) {
            (Ok(s), Some(nvs)) => {
                log::info!(
                    "secure: node {} ({:?} identity), public key {}, network {:?} key generation {}",
                    Hex(&s.node_id.0),
                    s.state,
                    Hex(&s.public),
                    core::str::from_utf8(s.record.network()).unwrap_or("?"),
                    s.record.generation()
                );
                (nvs, s.node_id, s.security)
            }
            (Err(why), _) => unprovisioned(&why, record_at),
            (Ok(_), None) => unprovisioned(
                &Unprovisioned::Storage(hyphae_core::security::hyphae_crypto::Error::Storage),
                record_at,
            ),
        }
    };
    #[cfg(feature = "lab-insecure")]
    let id = {
        // Lab mode (cargo feature `lab-insecure`): no identity, no provisioning, every frame in
        // clear. The node id is the MAC, stable per chip.
        config.insecure = true;
        log::warn!(
            "LAB MODE (feature lab-insecure): frame security is OFF; never deploy this build"
        );
        let mut id = [0u8; 8];
        id[..6].copy_from_slice(&mac);
        hyphae_core::NodeId(id)
    };

    let seed = (u64::from(rng.random()) << 32) ^ u64::from(rng.random());
    let node = NODE.init(FwNode::new(config, id, seed));
    let Some(lid) = node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)) else {
        panic!("add_link");
    };
    #[cfg(not(feature = "lab-insecure"))]
    if let Err(e) = node.set_security(security) {
        // Cannot happen: the node was created with the identity's id.
        panic!("{e}");
    }
    let Some(mut app) = device_app::DeviceApp::new(node, now(), mac, PUBLISH_INTERVAL) else {
        panic!("device app");
    };
    log::info!(
        "heap: {} B free of {} B after radio start; node state {} B static",
        esp_alloc::HEAP.free(),
        HEAP_SIZE,
        core::mem::size_of::<FwNode>()
    );

    let mut buf = [0u8; 250];
    let mut may_sleep_until: Option<Instant> = None;
    loop {
        let t = now();
        let ms = now_ms();
        while let Some(f) = link.receive(ms) {
            let Ok(from) = LinkAddr::new(&f.src) else {
                continue;
            };
            let meta = RxMeta {
                rssi: Some(i16::from(f.rssi)),
                snr: None,
            };
            node.handle_datagram(t, lid, from, meta, f.data());
        }
        while let Some(tx) = node.poll_transmit(t, &mut buf) {
            let Ok(dst) = <[u8; 6]>::try_from(tx.to.as_bytes()) else {
                continue;
            };
            if let Err(e) = link.send(&dst, &buf[..tx.len], ms) {
                log::debug!("send to {dst:02x?}: {e}");
            }
            // Sending means the core was busy; it announces a new deadline once idle again.
            may_sleep_until = None;
        }
        while let Some(ev) = node.poll_event() {
            if let Event::MaySleepUntil(until) = ev {
                may_sleep_until = Some(until);
                continue;
            }
            #[cfg(not(feature = "lab-insecure"))]
            if let Event::CounterReserve(r) = ev {
                // Stored before the node may use it; on failure the node stops sealing at the
                // last stored reservation rather than risk a repeated nonce.
                if let Err(e) = secure::persist_reservation(&mut nvs, node, r) {
                    log::error!("counter reservation {r} not stored: {e}");
                }
                continue;
            }
            let read = || {
                tsens
                    .as_ref()
                    .map_or(0.0, |s| s.get_temperature().to_celsius())
            };
            if let Some(note) = app.on_event(node, t, &ev, read) {
                note.log();
            }
        }

        let next = node.poll_timeout();
        // The permission holds until its deadline passes or the node sends again (the core
        // announces each deadline once, so it must survive early wake-ups for its own timers).
        may_sleep_until = may_sleep_until.filter(|u| *u > t);
        match may_sleep_until {
            Some(until) if node.config().sleepy => {
                // Modem sleep until the core's deadline (or an earlier timer of its own).
                let wake = next.map_or(until, |n| n.min(until));
                let _ = wifi.set_power_saving(PowerSaveMode::Maximum);
                idle(t, Some(wake), Duration::from_secs(3600));
                let _ = wifi.set_power_saving(PowerSaveMode::None);
            }
            _ => idle(t, next, AWAKE_POLL),
        }
    }
}

/// Log why the node cannot run secure and what the admin needs, then wait: an unprovisioned
/// node never joins the mesh (a reset after `espflash write-bin` boots it again).
#[cfg(not(feature = "lab-insecure"))]
fn unprovisioned(why: &Unprovisioned, record_at: Option<u32>) -> ! {
    loop {
        log::warn!("UNPROVISIONED, not joining the mesh: {why}");
        match why {
            Unprovisioned::NoRecord {
                node_id, public, ..
            }
            | Unprovisioned::Refused {
                node_id, public, ..
            } => {
                log::warn!("node id {}", Hex(&node_id.0));
                log::warn!("public key {}", Hex(public));
                log::warn!(
                    "admin: hyphae security issue --public-key {} …, then hyphae security \
                     flash-record … -o node.bin; espflash write-bin {:#x} node.bin",
                    Hex(public),
                    record_at.unwrap_or(0xA000)
                );
            }
            Unprovisioned::Storage(_) => {
                log::warn!("the nvs partition (default partition table) is needed for keys");
            }
        }
        esp_rtos::CurrentThreadHandle::get().delay(esp_hal::time::Duration::from_secs(
            UNPROVISIONED_REMINDER.as_secs(),
        ));
    }
}
