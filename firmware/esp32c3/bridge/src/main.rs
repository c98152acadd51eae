//! hyphae's ESP-NOW radio bridge firmware.
//!
//! ESP-NOW frames go to the host as RX records and TX records from the host go on the air, on
//! the ESP32-C3's built-in USB-serial-JTAG port (`/dev/ttyACM0` on Linux) or, with feature
//! `uart`, on UART0 at 115 200 baud (GPIO21 TX, GPIO20 RX: the USB-UART chip of most dev
//! boards, `/dev/ttyUSB0`), framed as `docs/spec/bridge.md` says with the codec of
//! `hyphae-link-bridge`. The bridge logs nothing on that port: it carries records only (the ROM's
//! boot banner precedes them after a reset, and the host's decoder skips it).

#![no_std]
#![no_main]

use esp_alloc as _;
use esp_backtrace as _;
#[cfg(feature = "uart")]
use esp_hal::uart::{self, Uart};
#[cfg(not(feature = "uart"))]
use esp_hal::usb::usb_serial_jtag::UsbSerialJtag;
use esp_hal::{
    Blocking,
    clock::CpuClock,
    main,
    time::{Duration, Instant},
    timer::timg::TimerGroup,
};
use hyphae_fw_espnow::{EspNowLink, now_ms};
use hyphae_link_bridge::espnow::Channel;
use hyphae_link_bridge::record::{self, ErrorCode, MAX_ENCODED, Record, Status};
use hyphae_link_bridge::{DecodeError, Decoder};

esp_bootloader_esp_idf::esp_app_desc!();

/// Heap for the Wi-Fi blobs and the driver's receive queue.
const HEAP_SIZE: usize = 72 * 1024;

/// How long one record may wait for room in the port's FIFO before it is dropped (no host
/// attached, or a host that stopped reading).
const WRITE_TIMEOUT: Duration = Duration::from_millis(20);
/// The same, while the previous record already timed out.
const STALLED_TIMEOUT: Duration = Duration::from_millis(1);

/// The host side of the bridge, with bounded, never-blocking-forever writes.
struct HostPort<'d> {
    #[cfg(not(feature = "uart"))]
    usb: UsbSerialJtag<'d, Blocking>,
    #[cfg(feature = "uart")]
    uart: Uart<'d, Blocking>,
    /// A record was cut short by a timeout: start the next one with a delimiter.
    torn: bool,
}

impl HostPort<'_> {
    /// One byte from the host, if one is waiting.
    #[cfg(not(feature = "uart"))]
    fn read_byte(&mut self) -> Option<u8> {
        self.usb.read_byte().ok()
    }

    /// One byte from the host, if one is waiting (line errors lose the byte; the framing
    /// resynchronises on the next delimiter).
    #[cfg(feature = "uart")]
    fn read_byte(&mut self) -> Option<u8> {
        let mut b = [0u8; 1];
        while self.uart.read_ready() {
            if let Ok(1) = self.uart.read(&mut b) {
                return Some(b[0]);
            }
        }
        None
    }

    #[cfg(not(feature = "uart"))]
    fn try_write(&mut self, b: u8) -> bool {
        self.usb.write_byte_nb(b).is_ok()
    }

    #[cfg(feature = "uart")]
    fn try_write(&mut self, b: u8) -> bool {
        self.uart.write_ready() && matches!(self.uart.write(&[b]), Ok(1))
    }

    fn flush(&mut self) {
        #[cfg(not(feature = "uart"))]
        let _ = self.usb.flush_tx_nb();
    }

    /// Write one encoded record; `false` if it had to be dropped.
    fn write(&mut self, bytes: &[u8]) -> bool {
        // After a timeout nobody is reading: fail fast until the host drains the port again, so
        // that frames heard meanwhile do not each stall the loop for the full timeout.
        let wait = if self.torn {
            STALLED_TIMEOUT
        } else {
            WRITE_TIMEOUT
        };
        let deadline = Instant::now() + wait;
        let resync: &[u8] = if self.torn { &[0] } else { &[] };
        for &b in resync.iter().chain(bytes) {
            while !self.try_write(b) {
                if Instant::now() > deadline {
                    self.torn = true;
                    return false;
                }
            }
        }
        self.torn = false;
        self.flush();
        true
    }
}

struct Bridge<'d> {
    port: HostPort<'d>,
    link: EspNowLink,
    configured: bool,
    dropped: u32,
    out: [u8; MAX_ENCODED],
}

impl Bridge<'_> {
    fn send(&mut self, rec: &Record<'_>) {
        let ok = match rec.encode(&mut self.out) {
            Ok(n) => self.port.write(&self.out[..n]),
            Err(_) => false,
        };
        if !ok {
            self.dropped = self.dropped.wrapping_add(1);
        }
    }

    fn status(&self, seq: u8) -> Record<'static> {
        Record::Status(Status {
            seq,
            version: record::PROTOCOL_VERSION,
            flags: if self.configured {
                0
            } else {
                record::status_flags::BOOT
            },
            channel: self.link.channel().get(),
            mac: self.link.mac(),
            peers: u8::try_from(self.link.peer_count()).unwrap_or(u8::MAX),
            max_payload: u8::try_from(record::MAX_PAYLOAD).unwrap_or(u8::MAX),
            rx_frames: self.link.counters.rx,
            tx_frames: self.link.counters.tx,
            dropped: self.dropped,
        })
    }

    /// React to one record from the host.
    fn handle(&mut self, rec: Result<Record<'_>, DecodeError>) {
        let now = now_ms();
        let reply = match rec {
            Err(e) => {
                self.dropped = self.dropped.wrapping_add(1);
                Record::Error {
                    code: e.code(),
                    record_type: 0,
                }
            }
            Ok(Record::Hello { seq }) => self.status(seq),
            Ok(Record::Config { seq, channel }) => {
                let res = Channel::new(channel)
                    .map_err(|_| ErrorCode::InvalidChannel)
                    .and_then(|c| self.link.set_channel(c));
                self.configured |= res.is_ok();
                Record::Ack {
                    seq,
                    error: res.err(),
                }
            }
            Ok(Record::Peer { seq, mac }) => Record::Ack {
                seq,
                error: self.link.register(&mac, now).err(),
            },
            Ok(Record::Tx { seq, dst, payload }) => Record::Ack {
                seq,
                error: self.link.send(&dst, payload, now).err(),
            },
            Ok(other) => Record::Error {
                code: ErrorCode::UnknownType,
                record_type: other.kind(),
            },
        };
        self.send(&reply);
    }
}

#[main]
fn main() -> ! {
    let peripherals = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    esp_alloc::heap_allocator!(size: HEAP_SIZE);

    let timg0 = TimerGroup::new(peripherals.TIMG0);
    esp_rtos::start(timg0.timer0, peripherals.FROM_CPU_INTR0);

    let wifi = match esp_radio::wifi::WifiController::new(peripherals.WIFI, Default::default()) {
        Ok(w) => w,
        Err(e) => panic!("wifi init: {e:?}"),
    };
    let link = match EspNowLink::new(wifi.esp_now(), Channel::DEFAULT) {
        Ok(l) => l,
        Err(e) => panic!("esp-now init: {e}"),
    };
    #[cfg(not(feature = "uart"))]
    let port = HostPort {
        usb: UsbSerialJtag::new(peripherals.USB_DEVICE),
        torn: true,
    };
    #[cfg(feature = "uart")]
    let port = HostPort {
        uart: match Uart::new(
            peripherals.UART0,
            uart::Config::default().with_baudrate(115_200),
        ) {
            Ok(u) => u.with_tx(peripherals.GPIO21).with_rx(peripherals.GPIO20),
            Err(e) => panic!("uart: {e:?}"),
        },
        torn: true,
    };
    let mut bridge = Bridge {
        port,
        link,
        configured: false,
        dropped: 0,
        out: [0; MAX_ENCODED],
    };
    // A leading delimiter (the port is "torn") ends whatever the ROM printed, then the
    // unsolicited boot STATUS tells the host to (re)configure us.
    let boot = bridge.status(0);
    bridge.send(&boot);

    let mut decoder = Decoder::new();
    loop {
        while let Some(b) = bridge.port.read_byte() {
            if let Some(rec) = decoder.push(b) {
                bridge.handle(rec);
            }
        }
        while let Some(frame) = bridge.link.receive(now_ms()) {
            let rec = Record::Rx {
                src: frame.src,
                rssi: frame.rssi,
                flags: if frame.broadcast {
                    record::rx_flags::BROADCAST
                } else {
                    0
                },
                payload: frame.data(),
            };
            bridge.send(&rec);
        }
    }
}
