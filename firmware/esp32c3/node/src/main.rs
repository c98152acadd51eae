//! Bare ESP-NOW firmware: broadcast a 250-byte frame every second and log every frame received.
//!
//! This is the size baseline: it contains the runtime, the Wi-Fi blobs and the ESP-NOW driver and
//! nothing of hyphae, so `bridge` and `node` minus this is hyphae's own cost.

#![no_std]
#![no_main]

use esp_alloc as _;
use esp_backtrace as _;
use esp_hal::{
    clock::CpuClock,
    main,
    time::{Duration, Instant},
    timer::timg::TimerGroup,
};
use esp_radio::esp_now::BROADCAST_ADDRESS;

esp_bootloader_esp_idf::esp_app_desc!();

/// Heap for the Wi-Fi blobs and the driver's receive queue (same figure as the node and bridge).
const HEAP_SIZE: usize = 72 * 1024;

#[main]
fn main() -> ! {
    esp_println::logger::init_logger_from_env();
    let peripherals = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    esp_alloc::heap_allocator!(size: HEAP_SIZE);

    let timg0 = TimerGroup::new(peripherals.TIMG0);
    esp_rtos::start(timg0.timer0, peripherals.FROM_CPU_INTR0);

    let wifi = match esp_radio::wifi::WifiController::new(peripherals.WIFI, Default::default()) {
        Ok(w) => w,
        Err(e) => panic!("wifi init: {e:?}"),
    };
    let mut esp_now = wifi.esp_now();
    if let Err(e) = esp_now.set_channel(1) {
        log::warn!("set_channel: {e:?}");
    }

    let payload = [0x5au8; 250];
    let mut next = Instant::now() + Duration::from_secs(1);
    loop {
        if let Some(frame) = esp_now.receive() {
            log::info!(
                "rx {} B from {:02x?} rssi {}",
                frame.data().len(),
                frame.info.src_address,
                frame.info.rx_control.rssi
            );
        }
        if Instant::now() >= next {
            next += Duration::from_secs(1);
            match esp_now.send(&BROADCAST_ADDRESS, &payload) {
                Ok(waiter) => {
                    if let Err(e) = waiter.wait() {
                        log::warn!("send: {e:?}");
                    }
                }
                Err(e) => log::warn!("send: {e:?}"),
            }
        }
    }
}
