//! A bridge emulator for the tests: it plays the firmware's side of `docs/spec/bridge.md` on the
//! master end of a real pseudo-terminal, with a scripted radio instead of ESP-NOW.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashSet;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hyphae_link_bridge::espnow::{Channel, PeerTable, Touch, UNICAST_PEER_SLOTS};
use hyphae_link_bridge::record::{self, BROADCAST_MAC, ErrorCode, Mac, Record, Status};
use hyphae_link_bridge::{Decoder, MAX_ENCODED};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// The emulated bridge's MAC.
pub const BRIDGE_MAC: Mac = [0x34, 0x85, 0x18, 0xaa, 0xbb, 0xcc];

/// The ESP32-C3 ROM's boot banner, which precedes every reset on the real USB port.
pub const ROM_BANNER: &[u8] =
    b"ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:0x15 (USB_UART_CHIP_RESET),boot:0xd (SPI_FAST_FLASH_BOOT)\r\n";

/// The master end of a pty, non-blocking, driven by tokio.
pub struct Master {
    fd: AsyncFd<OwnedFd>,
}

impl Master {
    fn new(fd: OwnedFd) -> io::Result<Self> {
        let flags = fcntl(&fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(&fd, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        // `AsyncFd::new` is deprecated in favour of the `unsafe` `register` (this crate forbids
        // unsafe code). Its I/O-safety concern does not arise here: the AsyncFd owns the
        // OwnedFd, so nothing else can close or reuse the descriptor while it is registered.
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(Self { fd })
    }

    /// Read some bytes; `Ok(0)` when the slave side is gone (EIO on Linux).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), buf).map_err(io::Error::from)) {
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => return Ok(0),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

/// A pseudo-terminal pair: the slave's path for the link under test, the master for the
/// emulator. The slave fd stays open for the pair's lifetime so the master never sees a hangup
/// between the link's opens.
pub struct Pty {
    pub path: PathBuf,
    pub master: Master,
    _slave: OwnedFd,
}

pub fn pty() -> Pty {
    let p = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&p.slave).expect("ttyname");
    Pty {
        path,
        master: Master::new(p.master).expect("master"),
        _slave: p.slave,
    }
}

/// What the emulated bridge did, for assertions.
#[derive(Debug, Default)]
pub struct EmuState {
    /// Frames "sent on the radio": (destination, payload).
    pub sent: Vec<(Mac, Vec<u8>)>,
    pub channel: u8,
    pub configured: bool,
    /// Peers evicted from the radio table (least recently seen first).
    pub evicted: Vec<Mac>,
    pub peers: Vec<Mac>,
    /// Unicast destinations that never acknowledge.
    pub deaf: HashSet<Mac>,
    /// TX records to swallow without an ACK.
    pub swallow_tx: usize,
    /// Records received from the host, including bad ones.
    pub records_in: usize,
    pub errors_sent: usize,
}

pub enum EmuCmd {
    /// Hear a frame on the radio.
    Rx {
        src: Mac,
        rssi: i8,
        broadcast: bool,
        payload: Vec<u8>,
    },
    /// Write raw bytes to the host (garbage, truncated records...).
    Raw(Vec<u8>),
    /// Reboot: ROM banner, then an unsolicited STATUS with BOOT.
    Reset,
    /// Close the master: the port disappears.
    Unplug,
}

#[derive(Clone)]
pub struct Emulator {
    pub state: Arc<Mutex<EmuState>>,
    pub cmd: mpsc::Sender<EmuCmd>,
}

impl Emulator {
    pub async fn rx(&self, src: Mac, rssi: i8, broadcast: bool, payload: &[u8]) {
        self.cmd
            .send(EmuCmd::Rx {
                src,
                rssi,
                broadcast,
                payload: payload.to_vec(),
            })
            .await
            .expect("emulator gone");
    }

    pub async fn send(&self, c: EmuCmd) {
        self.cmd.send(c).await.expect("emulator gone");
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut EmuState) -> T) -> T {
        f(&mut self.state.lock().expect("state"))
    }
}

struct Bridge {
    state: Arc<Mutex<EmuState>>,
    table: PeerTable<UNICAST_PEER_SLOTS>,
    clock: u64,
    rx_frames: u32,
    tx_frames: u32,
    dropped: u32,
}

fn enc(r: &Record<'_>) -> Vec<u8> {
    let mut out = [0u8; MAX_ENCODED];
    let n = r.encode(&mut out).expect("encode");
    out[..n].to_vec()
}

impl Bridge {
    fn status(&self, seq: u8) -> Record<'static> {
        let st = self.state.lock().expect("state");
        Record::Status(Status {
            seq,
            version: record::PROTOCOL_VERSION,
            flags: if st.configured {
                0
            } else {
                record::status_flags::BOOT
            },
            channel: st.channel,
            mac: BRIDGE_MAC,
            peers: self.table.len() as u8,
            max_payload: record::MAX_PAYLOAD as u8,
            rx_frames: self.rx_frames,
            tx_frames: self.tx_frames,
            dropped: self.dropped,
        })
    }

    fn boot(&mut self) -> Vec<u8> {
        self.table = PeerTable::new();
        {
            let mut st = self.state.lock().expect("state");
            st.channel = Channel::DEFAULT.get();
            st.configured = false;
            st.peers.clear();
        }
        let mut out = ROM_BANNER.to_vec();
        out.push(0);
        out.extend(enc(&self.status(0)));
        out
    }

    fn ack(seq: u8, error: Option<ErrorCode>) -> Vec<u8> {
        enc(&Record::Ack { seq, error })
    }

    /// The bridge's reaction to one record from the host.
    fn handle(&mut self, rec: Result<Record<'_>, record::DecodeError>) -> Vec<u8> {
        self.clock += 1;
        self.state.lock().expect("state").records_in += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                self.dropped += 1;
                self.state.lock().expect("state").errors_sent += 1;
                return enc(&Record::Error {
                    code: e.code(),
                    record_type: 0,
                });
            }
        };
        match rec {
            Record::Hello { seq } => enc(&self.status(seq)),
            Record::Config { seq, channel } => match Channel::new(channel) {
                Ok(c) => {
                    let mut st = self.state.lock().expect("state");
                    st.channel = c.get();
                    st.configured = true;
                    Self::ack(seq, None)
                }
                Err(_) => Self::ack(seq, Some(ErrorCode::InvalidChannel)),
            },
            Record::Peer { seq, mac } => {
                self.register(&mac);
                Self::ack(seq, None)
            }
            Record::Tx { seq, dst, payload } => {
                let mut st = self.state.lock().expect("state");
                if st.swallow_tx > 0 {
                    st.swallow_tx -= 1;
                    return Vec::new();
                }
                drop(st);
                if dst != BROADCAST_MAC {
                    self.register(&dst);
                    if self.state.lock().expect("state").deaf.contains(&dst) {
                        return Self::ack(seq, Some(ErrorCode::NoAck));
                    }
                }
                self.tx_frames += 1;
                self.state
                    .lock()
                    .expect("state")
                    .sent
                    .push((dst, payload.to_vec()));
                Self::ack(seq, None)
            }
            other => enc(&Record::Error {
                code: ErrorCode::UnknownType,
                record_type: other.kind(),
            }),
        }
    }

    fn register(&mut self, mac: &Mac) {
        let t = self.table.touch(mac, self.clock);
        let mut st = self.state.lock().expect("state");
        if let Touch::Replaced { evicted } = t {
            st.evicted.push(evicted);
        }
        st.peers = self.table.iter().collect();
    }
}

/// Start an emulated bridge on `master`. It boots (banner + STATUS) right away, like a board
/// whose port was just opened.
pub fn spawn(master: Master) -> Emulator {
    let state = Arc::new(Mutex::new(EmuState::default()));
    let (tx, mut rx) = mpsc::channel::<EmuCmd>(64);
    let mut bridge = Bridge {
        state: Arc::clone(&state),
        table: PeerTable::new(),
        clock: 0,
        rx_frames: 0,
        tx_frames: 0,
        dropped: 0,
    };
    tokio::spawn(async move {
        let mut dec = Decoder::new();
        let mut buf = [0u8; 1024];
        let boot = bridge.boot();
        if master.write_all(&boot).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                n = master.read(&mut buf) => {
                    let Ok(n) = n else { return };
                    if n == 0 {
                        return;
                    }
                    let mut out = Vec::new();
                    for &b in &buf[..n] {
                        if let Some(r) = dec.push(b) {
                            out.extend(bridge.handle(r));
                        }
                    }
                    if !out.is_empty() && master.write_all(&out).await.is_err() {
                        return;
                    }
                }
                c = rx.recv() => {
                    let out = match c {
                        None | Some(EmuCmd::Unplug) => return,
                        Some(EmuCmd::Raw(b)) => b,
                        Some(EmuCmd::Reset) => {
                            dec.reset();
                            bridge.boot()
                        }
                        Some(EmuCmd::Rx { src, rssi, broadcast, payload }) => {
                            bridge.rx_frames += 1;
                            bridge.table.seen(&src, bridge.clock);
                            enc(&Record::Rx {
                                src,
                                rssi,
                                flags: if broadcast { record::rx_flags::BROADCAST } else { 0 },
                                payload: &payload,
                            })
                        }
                    };
                    if master.write_all(&out).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Emulator { state, cmd: tx }
}
