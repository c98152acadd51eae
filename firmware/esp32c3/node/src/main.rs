//! hyphae mesh node firmware for the ESP32-C3 over ESP-NOW.
//!
//! A thin shell around `hyphae_core::Node` (sans-IO): it feeds the node every ESP-NOW frame with
//! its RSSI, puts the node's frames on the air through the ESP-NOW link adapter (unicast peers
//! registered on demand, least recently seen evicted when the radio's table is full), runs its
//! timers, and lets the modem sleep when the core says "may sleep until" (feature `sleepy`).
//! The node keeps its identity in flash, sends beacons and forwards frames (the core's routing),
//! and runs a sensor application that publishes the chip's temperature to the nearest gateway
//! with the device–gateway protocol.

#![no_std]
#![no_main]

mod identity;

use core::time::Duration;

use esp_alloc as _;
use esp_backtrace as _;
use esp_hal::{clock::CpuClock, main, timer::timg::TimerGroup, tsens::TemperatureSensor};
use esp_radio::wifi::PowerSaveMode;
use esp_storage::FlashStorage;
use hyphae_core::{Config, Event, Instant, LinkAddr, LinkInfo, LinkKind, Node, RxMeta};
use hyphae_fw_espnow::{EspNowLink, now_ms};
use hyphae_fw_logic::device_app;
use hyphae_link_bridge::espnow::Channel;
use hyphae_wire::beacon::Capabilities;
use static_cell::StaticCell;

esp_bootloader_esp_idf::esp_app_desc!();

/// The node's capacities: 16 peers, 4 + 4 transfers, 16 KiB of reassembly, 8 KiB of outbound
/// buffer, 250-byte ESP-NOW frames. Statically allocated (it shows in `.bss`).
pub type FwNode = Node<16, 4, 16_384, 8_192, 250>;

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
    let mut flash = FlashStorage::new(peripherals.FLASH);
    let ident = identity::load_or_create(&mut flash, mac, |b| rng.read(b));
    log::info!(
        "hyphae node {:02x?} ({:?}), MAC {:02x?}, channel {}",
        ident.id.0,
        ident.source,
        mac,
        channel.get()
    );

    let tsens = TemperatureSensor::new(peripherals.TSENS, Default::default()).ok();

    let mut config = Config::default();
    // Key provisioning into flash (identity, credential, network key) is not built yet: this
    // firmware runs the lab mode and says so. `hyphae-core::security` is what it will install.
    config.insecure = true;
    if SLEEPY {
        config.sleepy = true;
        config.capabilities = Capabilities::LEAF;
    }
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&ident.seed[..8]);
    let seed = u64::from_le_bytes(seed) ^ (u64::from(rng.random()) << 32) ^ u64::from(rng.random());
    let node = NODE.init(FwNode::new(config, ident.id, seed));
    let Some(lid) = node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1)) else {
        panic!("add_link");
    };
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
