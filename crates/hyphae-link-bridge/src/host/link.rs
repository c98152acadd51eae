//! [`BridgeLink`]: the tokio side of the bridge protocol.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use std::vec::Vec;

use hyphae_link::{LinkAddr, LinkError, LinkInfo, LinkKind, RxMeta};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::{BridgeConfig, ConfigError};
use crate::Decoder;
use crate::espnow::ChannelError;
use crate::record::{self, ErrorCode, MAX_ENCODED, MAX_PAYLOAD, Mac, Record, Status};

/// Records the link keeps in flight before it stops taking new commands.
const MAX_OUTSTANDING: usize = 32;
/// Events buffered for the consumer of a [`BridgeLink`]; frames arriving while it is full are
/// dropped and counted in [`LinkStats::dropped`] (the reader never stalls, so ACKs keep
/// flowing even when nobody reads frames).
pub const EVENT_QUEUE: usize = 1024;

/// Why a bridge operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The serial port could not be opened.
    Open(std::io::ErrorKind),
    /// Reading or writing the port failed; the link is closed.
    Io(std::io::ErrorKind),
    /// The link is closed (port gone or [`BridgeLink`] dropped).
    Closed,
    /// The bridge did not answer in time.
    TimedOut,
    /// The bridge answered with an error.
    Rejected(ErrorCode),
    /// The bridge rebooted before answering (the record was lost).
    Reset,
    /// A frame that is empty or longer than 250 bytes.
    FrameSize,
    /// A destination that is not a 6-byte MAC.
    BadAddress,
    /// The bridge speaks another protocol version.
    Version(u8),
}

impl core::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Open(k) => write!(f, "cannot open the bridge's serial port: {k}"),
            Self::Io(k) => write!(f, "bridge serial I/O failed: {k}"),
            Self::Closed => f.write_str("bridge link closed"),
            Self::TimedOut => f.write_str("bridge did not answer in time"),
            Self::Rejected(c) => write!(f, "bridge refused: {c}"),
            Self::Reset => f.write_str("bridge reset before answering"),
            Self::FrameSize => f.write_str("frame empty or larger than 250 bytes"),
            Self::BadAddress => f.write_str("ESP-NOW address must be a 6-byte MAC"),
            Self::Version(v) => write!(f, "bridge speaks protocol version {v}"),
        }
    }
}

impl core::error::Error for BridgeError {}

impl From<BridgeError> for LinkError {
    fn from(e: BridgeError) -> Self {
        match e {
            BridgeError::FrameSize => Self::FrameTooLarge,
            BridgeError::BadAddress => Self::AddressTooLong,
            BridgeError::TimedOut => Self::TimedOut,
            BridgeError::Rejected(ErrorCode::Busy) => Self::BudgetExhausted,
            BridgeError::Rejected(_) | BridgeError::Config(_) | BridgeError::Version(_) => {
                Self::Rejected
            }
            BridgeError::Open(_)
            | BridgeError::Io(_)
            | BridgeError::Closed
            | BridgeError::Reset => Self::Unavailable,
        }
    }
}

/// A frame heard by the bridge's radio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Sender MAC as a link address.
    pub from: LinkAddr,
    /// RSSI as reported by the radio.
    pub meta: RxMeta,
    /// Whether it was sent to the broadcast address.
    pub broadcast: bool,
    /// The frame.
    pub data: Vec<u8>,
}

/// What a [`BridgeLink`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeEvent {
    /// A frame from the radio.
    Frame(Received),
    /// The bridge rebooted; the link has already re-sent its channel configuration. Records in
    /// flight at that moment failed with [`BridgeError::Reset`].
    Reset(Status),
    /// The bridge reported an error not tied to one record (a corrupted record from the host,
    /// for example).
    Error(ErrorCode),
}

/// Counters kept by the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Frames received from the bridge.
    pub rx_frames: u64,
    /// Frames the bridge acknowledged as sent.
    pub tx_frames: u64,
    /// Records from the bridge that failed to decode (garbage, truncation, CRC).
    pub decode_errors: u64,
    /// Frames dropped because the consumer did not keep up.
    pub dropped: u64,
    /// Bridge reboots seen.
    pub resets: u64,
    /// Unsolicited ERROR records from the bridge.
    pub bridge_errors: u64,
}

#[derive(Debug, Default)]
struct Shared {
    stats: LinkStats,
    status: Option<Status>,
}

enum Reply {
    Done(oneshot::Sender<Result<(), BridgeError>>),
    Status(oneshot::Sender<Result<Status, BridgeError>>),
    /// The link's own CONFIG after a reset.
    Internal,
}

impl Reply {
    fn fail(self, e: BridgeError) {
        match self {
            Self::Done(tx) => {
                let _ = tx.send(Err(e));
            }
            Self::Status(tx) => {
                let _ = tx.send(Err(e));
            }
            Self::Internal => {}
        }
    }
}

enum Command {
    Tx(Mac, Vec<u8>, oneshot::Sender<Result<(), BridgeError>>),
    Config(u8, oneshot::Sender<Result<(), BridgeError>>),
    Peer(Mac, oneshot::Sender<Result<(), BridgeError>>),
    Hello(oneshot::Sender<Result<Status, BridgeError>>),
}

/// A cloneable handle that sends through a [`BridgeLink`] (so that one task can send while
/// another receives).
#[derive(Clone)]
pub struct BridgeHandle {
    cmd: mpsc::Sender<Command>,
    shared: Arc<Mutex<Shared>>,
}

impl core::fmt::Debug for BridgeHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BridgeHandle").finish_non_exhaustive()
    }
}

fn mac_of(addr: &LinkAddr) -> Result<Mac, BridgeError> {
    <Mac>::try_from(addr.as_bytes()).map_err(|_| BridgeError::BadAddress)
}

impl BridgeHandle {
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, BridgeError>>) -> Command,
    ) -> Result<T, BridgeError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(make(tx))
            .await
            .map_err(|_| BridgeError::Closed)?;
        rx.await.map_err(|_| BridgeError::Closed)?
    }

    /// Send `frame` to `dst` (a 6-byte MAC or [`LinkAddr::BROADCAST`]) and wait for the
    /// bridge's ACK: for unicast, the peer's MAC-layer acknowledgement.
    pub async fn send(&self, dst: &LinkAddr, frame: &[u8]) -> Result<(), BridgeError> {
        let mac = mac_of(dst)?;
        if frame.is_empty() || frame.len() > MAX_PAYLOAD {
            return Err(BridgeError::FrameSize);
        }
        self.call(|tx| Command::Tx(mac, frame.to_vec(), tx)).await
    }

    /// Tune the bridge to `channel` (1..=13).
    pub async fn set_channel(&self, channel: u8) -> Result<(), BridgeError> {
        crate::espnow::Channel::new(channel)
            .map_err(|e: ChannelError| BridgeError::Config(ConfigError::Channel(e)))?;
        self.call(|tx| Command::Config(channel, tx)).await
    }

    /// Register (or refresh) a unicast peer ahead of sending to it.
    pub async fn add_peer(&self, peer: &LinkAddr) -> Result<(), BridgeError> {
        let mac = mac_of(peer)?;
        self.call(|tx| Command::Peer(mac, tx)).await
    }

    /// Ask the bridge for its state and counters.
    pub async fn status(&self) -> Result<Status, BridgeError> {
        self.call(Command::Hello).await
    }

    /// The link's counters.
    pub fn stats(&self) -> LinkStats {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats
    }

    /// The last STATUS the bridge sent.
    pub fn last_status(&self) -> Option<Status> {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status
    }
}

/// A link over an ESP32 running hyphae's bridge firmware.
#[derive(Debug)]
pub struct BridgeLink {
    handle: BridgeHandle,
    events: mpsc::Receiver<BridgeEvent>,
    task: JoinHandle<()>,
    mac: Mac,
}

impl Drop for BridgeLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BridgeLink {
    /// Open the serial port named in `config`, handshake with the bridge (HELLO until it
    /// answers) and set its channel.
    pub async fn open(config: &BridgeConfig) -> Result<Self, BridgeError> {
        config.validate().map_err(BridgeError::Config)?;
        let builder = tokio_serial::new(&config.port, config.baud);
        let port = tokio_serial::SerialStream::open(&builder)
            .map_err(|e| BridgeError::Open(std::io::Error::from(e).kind()))?;
        Self::start(port, config).await
    }

    /// Run the protocol over any byte stream (the serial port, in production).
    pub async fn start<T>(io: T, config: &BridgeConfig) -> Result<Self, BridgeError>
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let channel = config.validate().map_err(BridgeError::Config)?.get();
        let (cmd_tx, cmd_rx) = mpsc::channel(MAX_OUTSTANDING);
        let (ev_tx, events) = mpsc::channel(EVENT_QUEUE);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let actor = Actor {
            pending: BTreeMap::new(),
            next_seq: 0,
            channel,
            configured: false,
            reconfiguring: false,
            ack_timeout: Duration::from_millis(config.ack_timeout_ms),
            events: ev_tx,
            shared: Arc::clone(&shared),
        };
        let task = tokio::spawn(actor.run(io, cmd_rx));
        let handle = BridgeHandle {
            cmd: cmd_tx,
            shared,
        };
        let mut status = Err(BridgeError::TimedOut);
        for _ in 0..config.hello_attempts {
            status = handle.status().await;
            if !matches!(status, Err(BridgeError::TimedOut | BridgeError::Reset)) {
                break;
            }
        }
        let status = status?;
        if status.version != record::PROTOCOL_VERSION {
            return Err(BridgeError::Version(status.version));
        }
        handle.set_channel(channel).await?;
        Ok(Self {
            handle,
            events,
            task,
            mac: status.mac,
        })
    }

    /// Static properties of the link: ESP-NOW v1.0 (250-byte frames).
    pub fn info(&self) -> LinkInfo {
        LinkInfo::for_kind(LinkKind::EspNowV1)
    }

    /// The bridge radio's MAC.
    pub fn local_addr(&self) -> LinkAddr {
        LinkAddr::new(&self.mac).unwrap_or(LinkAddr::BROADCAST)
    }

    /// A handle for sending from another task.
    pub fn handle(&self) -> BridgeHandle {
        self.handle.clone()
    }

    /// See [`BridgeHandle::send`].
    pub async fn send(&self, dst: &LinkAddr, frame: &[u8]) -> Result<(), BridgeError> {
        self.handle.send(dst, frame).await
    }

    /// The next event: a received frame, a bridge reset or an error report. `None` once the
    /// port is closed.
    pub async fn recv(&mut self) -> Option<BridgeEvent> {
        self.events.recv().await
    }

    /// The next received frame, skipping other events. `None` once the port is closed.
    pub async fn recv_frame(&mut self) -> Option<Received> {
        loop {
            if let BridgeEvent::Frame(f) = self.events.recv().await? {
                return Some(f);
            }
        }
    }
}

struct Pending {
    reply: Reply,
    deadline: Instant,
    /// The record's type ([`record::kind`]).
    kind: u8,
}

struct Actor {
    pending: BTreeMap<u8, Pending>,
    next_seq: u8,
    channel: u8,
    /// The bridge has acknowledged a CONFIG (the handshake is over).
    configured: bool,
    /// The link's own CONFIG after a bridge reset is in flight.
    reconfiguring: bool,
    ack_timeout: Duration,
    events: mpsc::Sender<BridgeEvent>,
    shared: Arc<Mutex<Shared>>,
}

impl Actor {
    fn stats(&self, f: impl FnOnce(&mut LinkStats)) {
        f(&mut self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats);
    }

    /// Sequence numbers run 1..=255; 0 marks unsolicited records.
    fn seq(&mut self) -> u8 {
        loop {
            self.next_seq = self.next_seq.wrapping_add(1).max(1);
            if !self.pending.contains_key(&self.next_seq) {
                return self.next_seq;
            }
        }
    }

    async fn run<T: AsyncRead + AsyncWrite + Send>(self, io: T, cmd_rx: mpsc::Receiver<Command>) {
        let (reader, writer) = tokio::io::split(io);
        let mut me = self;
        let err = me.serve(reader, writer, cmd_rx).await;
        for (_, p) in core::mem::take(&mut me.pending) {
            p.reply.fail(err);
        }
    }

    async fn serve<R, W>(
        &mut self,
        mut reader: R,
        mut writer: W,
        mut cmd_rx: mpsc::Receiver<Command>,
    ) -> BridgeError
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut decoder = Decoder::new();
        let mut buf = [0u8; 512];
        let mut out = [0u8; MAX_ENCODED + 1];
        // A leading delimiter flushes whatever the bridge's decoder holds.
        if let Err(e) = writer.write_all(&[0]).await {
            return BridgeError::Io(e.kind());
        }
        loop {
            let deadline = self.pending.values().map(|p| p.deadline).min();
            tokio::select! {
                read = reader.read(&mut buf) => {
                    let n = match read {
                        Ok(0) => return BridgeError::Closed,
                        Ok(n) => n,
                        Err(e) => return BridgeError::Io(e.kind()),
                    };
                    for &b in &buf[..n] {
                        let Some(rec) = decoder.push(b) else { continue };
                        let follow_up = match rec {
                            Ok(r) => self.on_record(r),
                            Err(e) => {
                                self.stats(|s| s.decode_errors += 1);
                                tracing::debug!("bridge: undecodable record: {e}");
                                None
                            }
                        };
                        if let Some(rec) = follow_up
                            && let Err(e) = self.write(&mut writer, &mut out, rec).await
                        {
                            return e;
                        }
                    }
                }
                cmd = cmd_rx.recv(), if self.pending.len() < MAX_OUTSTANDING => {
                    let Some(cmd) = cmd else { return BridgeError::Closed };
                    let seq = self.seq();
                    let rec = match &cmd {
                        Command::Tx(dst, data, _) => Record::Tx { seq, dst: *dst, payload: data },
                        Command::Config(ch, _) => Record::Config { seq, channel: *ch },
                        Command::Peer(mac, _) => Record::Peer { seq, mac: *mac },
                        Command::Hello(_) => Record::Hello { seq },
                    };
                    let Ok(n) = rec.encode(&mut out) else {
                        Self::reply_of(cmd).fail(BridgeError::FrameSize);
                        continue;
                    };
                    if let Err(e) = writer.write_all(&out[..n]).await {
                        Self::reply_of(cmd).fail(BridgeError::Io(e.kind()));
                        return BridgeError::Io(e.kind());
                    }
                    let deadline = Instant::now() + self.ack_timeout;
                    let kind = rec.kind();
                    self.pending.insert(seq, Pending { reply: Self::reply_of(cmd), deadline, kind });
                }
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    let expired: Vec<u8> = self
                        .pending
                        .iter()
                        .filter(|(_, p)| p.deadline <= now)
                        .map(|(&s, _)| s)
                        .collect();
                    for s in expired {
                        if let Some(p) = self.pending.remove(&s) {
                            if matches!(p.reply, Reply::Internal) {
                                self.reconfiguring = false;
                            }
                            p.reply.fail(BridgeError::TimedOut);
                        }
                    }
                }
            }
        }
    }

    fn reply_of(cmd: Command) -> Reply {
        match cmd {
            Command::Tx(_, _, r) | Command::Config(_, r) | Command::Peer(_, r) => Reply::Done(r),
            Command::Hello(r) => Reply::Status(r),
        }
    }

    async fn write<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        out: &mut [u8],
        rec: Record<'_>,
    ) -> Result<(), BridgeError> {
        let n = rec.encode(out).map_err(|_| BridgeError::FrameSize)?;
        writer
            .write_all(&out[..n])
            .await
            .map_err(|e| BridgeError::Io(e.kind()))
    }

    /// Handle one record from the bridge; returns a record to send back, if any.
    fn on_record(&mut self, rec: Record<'_>) -> Option<Record<'static>> {
        match rec {
            Record::Rx {
                src,
                rssi,
                flags,
                payload,
            } => {
                let ev = BridgeEvent::Frame(Received {
                    from: LinkAddr::new(&src).unwrap_or(LinkAddr::BROADCAST),
                    meta: RxMeta {
                        rssi: Some(i16::from(rssi)),
                        snr: None,
                    },
                    broadcast: flags & record::rx_flags::BROADCAST != 0,
                    data: payload.to_vec(),
                });
                if self.events.try_send(ev).is_ok() {
                    self.stats(|s| s.rx_frames += 1);
                } else {
                    self.stats(|s| s.dropped += 1);
                }
                None
            }
            Record::Ack { seq, error } => {
                let p = self.pending.remove(&seq)?;
                if p.kind == record::kind::CONFIG {
                    if matches!(p.reply, Reply::Internal) {
                        self.reconfiguring = false;
                    }
                    self.configured |= error.is_none();
                }
                match (p.reply, error) {
                    (Reply::Done(tx), None) => {
                        let _ = tx.send(Ok(()));
                        if p.kind == record::kind::TX {
                            self.stats(|s| s.tx_frames += 1);
                        }
                    }
                    (Reply::Done(tx), Some(c)) => {
                        let _ = tx.send(Err(BridgeError::Rejected(c)));
                    }
                    (Reply::Status(tx), _) => {
                        let _ = tx.send(Err(BridgeError::Closed));
                    }
                    (Reply::Internal, _) => {}
                }
                None
            }
            Record::Status(st) => {
                self.shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .status = Some(st);
                let answered = if st.seq != 0 {
                    match self.pending.remove(&st.seq) {
                        Some(Pending {
                            reply: Reply::Status(tx),
                            ..
                        }) => {
                            let _ = tx.send(Ok(st));
                            true
                        }
                        Some(other) => {
                            self.pending.insert(st.seq, other);
                            false
                        }
                        None => false,
                    }
                } else {
                    false
                };
                let _ = answered;
                // BOOT is set until the bridge has been configured since it booted. Before the
                // handshake has configured it once, that is the handshake's business.
                if !st.is_boot() || !self.configured || self.reconfiguring {
                    return None;
                }
                // The bridge rebooted: whatever was in flight is lost.
                self.stats(|s| s.resets += 1);
                for (_, p) in core::mem::take(&mut self.pending) {
                    p.reply.fail(BridgeError::Reset);
                }
                let _ = self.events.try_send(BridgeEvent::Reset(st));
                self.reconfiguring = true;
                let seq = self.seq();
                self.pending.insert(
                    seq,
                    Pending {
                        reply: Reply::Internal,
                        deadline: Instant::now() + self.ack_timeout,
                        kind: record::kind::CONFIG,
                    },
                );
                Some(Record::Config {
                    seq,
                    channel: self.channel,
                })
            }
            Record::Error { code, .. } => {
                self.stats(|s| s.bridge_errors += 1);
                let _ = self.events.try_send(BridgeEvent::Error(code));
                None
            }
            // Host-to-bridge records echoed back (a loopback or a misconnected port): ignore.
            Record::Tx { .. }
            | Record::Config { .. }
            | Record::Hello { .. }
            | Record::Peer { .. } => {
                self.stats(|s| s.decode_errors += 1);
                None
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => core::future::pending().await,
    }
}
