//! The async runner: one task owns the serial port, configures the module, sends frames,
//! turns `+RCV` lines into datagrams and recovers from errors, timeouts, garbage and resets.
//! Transmit requests are serviced while the task keeps reading (it never blocks on one).

use std::boxed::Box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use std::vec::Vec;

use hyphae_link::{LinkAddr, LinkError, LinkInfo, RxMeta};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;

use crate::airtime::DutyCycle;
use crate::at::{Command, ErrorCode, LineSplitter, Response, parse};
use crate::config::{ConfigError, Rylr998Config};
use crate::encoding;

/// A frame received from another module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The sender's module address (2 bytes, big-endian).
    pub from: LinkAddr,
    /// RSSI and SNR as the module reported them.
    pub meta: RxMeta,
    /// The decoded hyphae frame.
    pub data: Vec<u8>,
}

/// Counters of the runner (for metrics).
#[derive(Debug, Default)]
pub struct RunnerStats {
    /// Frames sent (`+OK` received).
    pub sent: AtomicU64,
    /// Sends that failed (error, timeout, budget).
    pub send_failures: AtomicU64,
    /// Sends refused because the duty-cycle budget was spent.
    pub budget_refusals: AtomicU64,
    /// Frames received and decoded.
    pub received: AtomicU64,
    /// `+RCV` lines whose data did not decode.
    pub decode_errors: AtomicU64,
    /// Lines that were not module responses, or malformed ones.
    pub garbage_lines: AtomicU64,
    /// Lines longer than the line buffer.
    pub overlong_lines: AtomicU64,
    /// Module resets seen (`+READY`), each followed by reconfiguration.
    pub resets: AtomicU64,
    /// Received frames dropped because the application did not keep up.
    pub rx_overflow: AtomicU64,
    /// `+ERR` answers, any command.
    pub module_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Why the runner could not start.
#[derive(Debug)]
pub enum RunError {
    /// Bad configuration.
    Config(ConfigError),
    /// The serial port could not be opened.
    Open(std::io::Error),
    /// The module did not accept its configuration.
    Configure(&'static str),
}

impl core::fmt::Display for RunError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Open(e) => write!(f, "rylr998: cannot open serial port: {e}"),
            Self::Configure(what) => write!(f, "rylr998: module refused configuration: {what}"),
        }
    }
}

impl std::error::Error for RunError {}

struct Request {
    to: u16,
    frame: Vec<u8>,
    done: oneshot::Sender<Result<(), LinkError>>,
}

/// A running RYLR-998 link.
pub struct Rylr998 {
    requests: mpsc::Sender<Request>,
    incoming: mpsc::Receiver<Datagram>,
    stats: Arc<RunnerStats>,
    duty: Arc<Mutex<DutyCycle>>,
    info: LinkInfo,
    epoch: Instant,
}

impl Rylr998 {
    /// Open the configured serial device and start.
    pub async fn open(config: Rylr998Config) -> Result<Self, RunError> {
        config.validate().map_err(RunError::Config)?;
        let builder = tokio_serial::new(&config.device, config.baud);
        let port = tokio_serial::SerialStream::open(&builder)
            .map_err(|e| RunError::Open(std::io::Error::other(e)))?;
        Self::start(port, config).await
    }

    /// Start on any byte stream (a serial port, or a pseudo-terminal in tests); returns once
    /// the module accepted its configuration.
    pub async fn start<S>(io: S, config: Rylr998Config) -> Result<Self, RunError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        config.validate().map_err(RunError::Config)?;
        let (req_tx, req_rx) = mpsc::channel(16);
        let (in_tx, in_rx) = mpsc::channel(64);
        let (ready_tx, ready_rx) = oneshot::channel();
        let stats = Arc::new(RunnerStats::default());
        let duty = Arc::new(Mutex::new(DutyCycle::new(config.duty_cycle_ppm())));
        let info = crate::link_info(&config.modem(), config.duty_cycle_ppm());
        let epoch = Instant::now();
        let task = Task {
            io: Box::new(io),
            config,
            requests: req_rx,
            incoming: in_tx,
            stats: stats.clone(),
            duty: duty.clone(),
            splitter: LineSplitter::new(),
            epoch,
            ready: Some(ready_tx),
        };
        tokio::spawn(task.run());
        match tokio::time::timeout(Duration::from_secs(10), ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(Self {
                requests: req_tx,
                incoming: in_rx,
                stats,
                duty,
                info,
                epoch,
            }),
            Ok(Ok(Err(what))) => Err(RunError::Configure(what)),
            _ => Err(RunError::Configure("no answer from the module")),
        }
    }

    /// Send one hyphae frame to a module address ([`LinkAddr::BROADCAST`] or 2 bytes).
    pub async fn send(&self, to: &LinkAddr, frame: &[u8]) -> Result<(), LinkError> {
        send_on(&self.requests, to, frame).await
    }

    /// Split into a cloneable sending half and the receiving half, so one task can wait for
    /// frames while others send.
    pub fn into_parts(self) -> (Rylr998Sender, mpsc::Receiver<Datagram>) {
        (
            Rylr998Sender {
                requests: self.requests,
                stats: self.stats,
                duty: self.duty,
                info: self.info,
                epoch: self.epoch,
            },
            self.incoming,
        )
    }
    /// The next received frame; `None` once the port is gone.
    pub async fn recv(&mut self) -> Option<Datagram> {
        self.incoming.recv().await
    }

    /// The link's properties for the core's links table.
    pub fn info(&self) -> LinkInfo {
        self.info
    }

    /// Counters.
    pub fn stats(&self) -> &RunnerStats {
        &self.stats
    }

    /// How long until the duty-cycle budget allows the next transmission.
    pub async fn budget_wait(&self) -> Duration {
        let now = self.epoch.elapsed().as_micros() as u64;
        let at = self.duty.lock().await.ready_at(now);
        Duration::from_micros(at - now)
    }

    /// Airtime used so far.
    pub async fn airtime_used(&self) -> Duration {
        self.duty.lock().await.used()
    }
}

async fn send_on(
    requests: &mpsc::Sender<Request>,
    to: &LinkAddr,
    frame: &[u8],
) -> Result<(), LinkError> {
    let addr = if to.is_broadcast() {
        0
    } else {
        match to.as_bytes() {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            _ => return Err(LinkError::Rejected),
        }
    };
    if frame.len() > encoding::MAX_FRAME || frame.is_empty() {
        return Err(LinkError::FrameTooLarge);
    }
    let (done, result) = oneshot::channel();
    requests
        .send(Request {
            to: addr,
            frame: frame.to_vec(),
            done,
        })
        .await
        .map_err(|_| LinkError::Unavailable)?;
    result.await.unwrap_or(Err(LinkError::Unavailable))
}

/// The sending half of a [`Rylr998`] (cloneable).
#[derive(Clone)]
pub struct Rylr998Sender {
    requests: mpsc::Sender<Request>,
    stats: Arc<RunnerStats>,
    duty: Arc<Mutex<DutyCycle>>,
    info: LinkInfo,
    epoch: Instant,
}

impl Rylr998Sender {
    /// Send one frame; see [`Rylr998::send`].
    pub async fn send(&self, to: &LinkAddr, frame: &[u8]) -> Result<(), LinkError> {
        send_on(&self.requests, to, frame).await
    }

    /// The link's properties.
    pub fn info(&self) -> LinkInfo {
        self.info
    }

    /// Counters.
    pub fn stats(&self) -> &RunnerStats {
        &self.stats
    }

    /// How long until the duty-cycle budget allows the next transmission.
    pub async fn budget_wait(&self) -> Duration {
        let now = self.epoch.elapsed().as_micros() as u64;
        let at = self.duty.lock().await.ready_at(now);
        Duration::from_micros(at - now)
    }
}

enum Pending {
    Config {
        step: usize,
        attempts: u8,
    },
    Send {
        req: Request,
        attempts: u8,
        started_us: u64,
        encoded: usize,
    },
}

struct Task {
    io: Box<dyn AsyncReadWrite>,
    config: Rylr998Config,
    requests: mpsc::Receiver<Request>,
    incoming: mpsc::Sender<Datagram>,
    stats: Arc<RunnerStats>,
    duty: Arc<Mutex<DutyCycle>>,
    splitter: LineSplitter<320>,
    epoch: Instant,
    ready: Option<oneshot::Sender<Result<(), &'static str>>>,
}

trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

const CONFIG_STEPS: usize = 7;

impl Task {
    fn config_command(&self, step: usize) -> Option<Command<'static>> {
        Some(match step {
            0 => Command::At,
            1 => Command::Address(self.config.address),
            2 => Command::NetworkId(self.config.network_id),
            3 => Command::Band(self.config.band_hz),
            4 => Command::Parameter(self.config.modem()),
            5 => Command::Crfop(self.config.tx_power_dbm),
            6 => Command::CPin(self.config.cpin_value().ok()??),
            _ => return None,
        })
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    async fn write(&mut self, cmd: Command<'_>) -> bool {
        let mut buf = [0u8; 300];
        let Ok(n) = cmd.emit(&mut buf) else {
            return false;
        };
        self.io.write_all(&buf[..n]).await.is_ok() && self.io.flush().await.is_ok()
    }

    /// Issue config step `step` (skipping absent optional steps); returns the pending state.
    async fn config_step(&mut self, mut step: usize, attempts: u8) -> Option<(Pending, Instant)> {
        while step < CONFIG_STEPS {
            if let Some(cmd) = self.config_command(step) {
                self.write(cmd).await;
                return Some((
                    Pending::Config { step, attempts },
                    Instant::now() + Duration::from_secs(1),
                ));
            }
            step += 1;
        }
        if let Some(r) = self.ready.take() {
            let _ = r.send(Ok(()));
        }
        None
    }

    async fn run(mut self) {
        let mut pending = self.config_step(0, 0).await;
        let mut configured = false;
        let mut buf = [0u8; 512];
        loop {
            let deadline = pending.as_ref().map(|(_, d)| *d);
            let idle = pending.is_none() && configured;
            tokio::select! {
                read = self.io.read(&mut buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut lines: Vec<Vec<u8>> = Vec::new();
                    self.splitter.feed(&buf[..n], |l| lines.push(l.to_vec()));
                    self.stats.overlong_lines.store(self.splitter.overlong, Ordering::Relaxed);
                    for line in lines {
                        pending = self.on_line(&line, pending, &mut configured).await;
                    }
                }
                req = self.requests.recv(), if idle => {
                    let Some(req) = req else { break };
                    pending = self.start_send(req, 0).await;
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    pending = self.on_timeout(pending).await;
                    if pending.is_none() && !configured && self.ready.is_none() {
                        configured = true;
                    }
                }
            }
            if pending.is_none() && !configured && self.ready.is_none() {
                configured = true;
            }
        }
        if let Some(r) = self.ready.take() {
            let _ = r.send(Err("serial port closed"));
        }
    }

    async fn start_send(&mut self, req: Request, attempts: u8) -> Option<(Pending, Instant)> {
        let mut enc = [0u8; encoding::MAX_DATAGRAM];
        let Some(n) = encoding::encode(&req.frame, &mut enc) else {
            bump(&self.stats.send_failures);
            let _ = req.done.send(Err(LinkError::FrameTooLarge));
            return None;
        };
        let now = self.now_us();
        let ready = self.duty.lock().await.ready_at(now);
        if ready > now {
            bump(&self.stats.budget_refusals);
            bump(&self.stats.send_failures);
            let _ = req.done.send(Err(LinkError::BudgetExhausted));
            return None;
        }
        if !self
            .write(Command::Send {
                addr: req.to,
                data: &enc[..n],
            })
            .await
        {
            bump(&self.stats.send_failures);
            let _ = req.done.send(Err(LinkError::Unavailable));
            return None;
        }
        let deadline = Instant::now() + self.config.send_timeout(n);
        Some((
            Pending::Send {
                req,
                attempts,
                started_us: now,
                encoded: n,
            },
            deadline,
        ))
    }

    async fn on_line(
        &mut self,
        line: &[u8],
        pending: Option<(Pending, Instant)>,
        configured: &mut bool,
    ) -> Option<(Pending, Instant)> {
        let Ok(resp) = parse(line) else {
            bump(&self.stats.garbage_lines);
            return pending;
        };
        match resp {
            Response::Rcv {
                addr,
                data,
                rssi,
                snr,
            } => {
                let mut out = [0u8; encoding::MAX_DATAGRAM];
                match encoding::decode(data, &mut out) {
                    Ok(n) => {
                        let d = Datagram {
                            from: LinkAddr::new(&addr.to_be_bytes()).unwrap_or(LinkAddr::BROADCAST),
                            meta: RxMeta {
                                rssi: Some(rssi),
                                snr: Some(snr),
                            },
                            data: out[..n].to_vec(),
                        };
                        bump(&self.stats.received);
                        if self.incoming.try_send(d).is_err() {
                            bump(&self.stats.rx_overflow);
                        }
                    }
                    Err(_) => bump(&self.stats.decode_errors),
                }
                pending
            }
            Response::Ready => {
                // The module reset: whatever was in flight is lost; configure it again.
                bump(&self.stats.resets);
                self.splitter.clear();
                if let Some((Pending::Send { req, .. }, _)) = pending {
                    bump(&self.stats.send_failures);
                    let _ = req.done.send(Err(LinkError::Unavailable));
                }
                *configured = false;
                self.config_step(0, 0).await
            }
            Response::Ok => match pending {
                Some((Pending::Config { step, .. }, _)) => self.config_step(step + 1, 0).await,
                Some((
                    Pending::Send {
                        req,
                        started_us,
                        encoded,
                        ..
                    },
                    _,
                )) => {
                    let airtime = self.config.modem().send_airtime(encoded);
                    self.duty.lock().await.charge(started_us, airtime);
                    bump(&self.stats.sent);
                    let _ = req.done.send(Ok(()));
                    None
                }
                None => pending,
            },
            Response::Err(code) => {
                bump(&self.stats.module_errors);
                match pending {
                    Some((Pending::Config { step, attempts }, _)) => {
                        if attempts >= 3 {
                            if let Some(r) = self.ready.take() {
                                let _ = r.send(Err("a configuration command was refused"));
                            }
                            // Keep running: try the next step so the link works as far as it can.
                            self.config_step(step + 1, 0).await
                        } else {
                            self.config_step(step, attempts + 1).await
                        }
                    }
                    Some((Pending::Send { req, attempts, .. }, _)) => {
                        if code.transient() && attempts < 3 {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            self.start_send(req, attempts + 1).await
                        } else {
                            bump(&self.stats.send_failures);
                            let err = if code == ErrorCode::TooLong {
                                LinkError::FrameTooLarge
                            } else {
                                LinkError::Rejected
                            };
                            let _ = req.done.send(Err(err));
                            None
                        }
                    }
                    None => None,
                }
            }
            Response::Reset | Response::Factory | Response::Value { .. } => pending,
        }
    }

    async fn on_timeout(
        &mut self,
        pending: Option<(Pending, Instant)>,
    ) -> Option<(Pending, Instant)> {
        match pending {
            Some((Pending::Config { step, attempts }, _)) => {
                if attempts >= 3 {
                    if let Some(r) = self.ready.take() {
                        let _ = r.send(Err("module does not answer"));
                    }
                    // Probe again later: a module that comes back prints +READY or answers.
                    self.config_step(0, 0)
                        .await
                        .map(|(p, _)| (p, Instant::now() + Duration::from_secs(5)))
                } else {
                    self.config_step(step, attempts + 1).await
                }
            }
            Some((Pending::Send { req, .. }, _)) => {
                bump(&self.stats.send_failures);
                let _ = req.done.send(Err(LinkError::TimedOut));
                None
            }
            None => None,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
