//! The shell: one tokio task owns the core node and runs its loop — frames in, timers,
//! application requests, transmits out, events out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyphae_core::{AppId, Event, HostNode, Instant, LinkAddr, LinkId, NodeId, RxMeta, SendId};
use hyphae_link_udp::{MAX_DATAGRAM, UdpLink};
use tokio::sync::{mpsc, oneshot};

use crate::config::{Config, LinkConfig, parse_node_id};
use crate::metrics::Metrics;

/// What an application hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// A payload for one of its applications.
    Delivered {
        /// The application.
        app: u16,
        /// The sender.
        from: [u8; 8],
        /// The payload.
        data: Vec<u8>,
        /// Whether it was broadcast.
        broadcast: bool,
    },
    /// A send was acknowledged end to end (broadcasts: sent).
    SendDone {
        /// Id returned by the send request.
        send: u32,
    },
    /// A send failed.
    SendFailed {
        /// Id returned by the send request.
        send: u32,
        /// Why.
        reason: String,
    },
}

/// Where an application's events go.
pub type EventSink = mpsc::UnboundedSender<AppEvent>;

/// Node facts for `info` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// This node's id.
    pub id: [u8; 8],
    /// Neighbours in the peer table.
    pub peers: Vec<[u8; 8]>,
    /// Local addresses of the UDP links.
    pub links: Vec<SocketAddr>,
}

enum Request {
    Register {
        name: String,
        events: EventSink,
        reply: oneshot::Sender<Result<u16, String>>,
    },
    Send {
        app: u16,
        to: Option<[u8; 8]>,
        data: Vec<u8>,
        events: EventSink,
        reply: oneshot::Sender<Result<u32, String>>,
    },
    Info(oneshot::Sender<Info>),
}

/// A cheap handle to a running host node, used by the socket API and in-process applications
/// (the gateway) alike.
#[derive(Clone, Debug)]
pub struct HostHandle {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

const GONE: &str = "node stopped";

impl HostHandle {
    /// Register (or join) application `name`; its deliveries go to `events`. Returns its id.
    pub async fn register(&self, name: &str, events: EventSink) -> Result<u16, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Register {
                name: name.into(),
                events,
                reply,
            })
            .await
            .map_err(|_| GONE.to_owned())?;
        rx.await.map_err(|_| GONE.to_owned())?
    }

    /// Send reliably to `to`, or broadcast when `to` is `None`; the outcome goes to `events`.
    pub async fn send(
        &self,
        app: u16,
        to: Option<[u8; 8]>,
        data: Vec<u8>,
        events: EventSink,
    ) -> Result<u32, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Send {
                app,
                to,
                data,
                events,
                reply,
            })
            .await
            .map_err(|_| GONE.to_owned())?;
        rx.await.map_err(|_| GONE.to_owned())?
    }

    /// Node facts.
    pub async fn info(&self) -> Result<Info, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Info(reply))
            .await
            .map_err(|_| GONE.to_owned())?;
        rx.await.map_err(|_| GONE.to_owned())
    }
}

/// Why the host could not start.
#[derive(Debug)]
pub enum StartError {
    /// A link could not be opened (`links[i]`).
    Link(usize, String),
    /// The identity file could not be read or written.
    Identity(String),
    /// The API or metrics listener could not bind.
    Listen(String),
    /// The security configuration could not be loaded (`[security]`).
    Security(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Link(i, e) => write!(f, "links[{i}]: {e}"),
            Self::Identity(e) => write!(f, "node.identity: {e}"),
            Self::Listen(e) => write!(f, "{e}"),
            Self::Security(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A started host node.
#[derive(Debug)]
pub struct Host {
    /// Handle for requests.
    pub handle: HostHandle,
    /// The node id.
    pub id: [u8; 8],
    /// UDP link addresses, in configuration order.
    pub links: Vec<SocketAddr>,
    /// Where the API listens, if it does.
    pub api: Option<String>,
    /// Where `/metrics` is served, if it is.
    pub metrics: Option<SocketAddr>,
    /// The loop task.
    pub task: tokio::task::JoinHandle<()>,
}

fn resolve_id(config: &Config) -> Result<[u8; 8], StartError> {
    if let Some(id) = config.node.id.as_deref().and_then(parse_node_id) {
        return Ok(id);
    }
    let fresh = || {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut x = t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32);
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (x ^ (x >> 31)).to_be_bytes()
    };
    let Some(path) = &config.node.identity else {
        return Ok(fresh());
    };
    match std::fs::read_to_string(path) {
        Ok(s) => parse_node_id(s.trim()).ok_or_else(|| {
            StartError::Identity(format!("{}: not a 16-hex-digit node id", path.display()))
        }),
        Err(_) => {
            let id = fresh();
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(path, hex + "\n")
                .map_err(|e| StartError::Identity(format!("{}: {e}", path.display())))?;
            Ok(id)
        }
    }
}

/// Build the (large) core node on a thread with a big stack and box it.
fn build_node(config: &Config, id: [u8; 8]) -> Box<HostNode> {
    let mut core = hyphae_core::Config {
        max_transfer: config.node.max_transfer,
        beacon_interval: config.beacon(),
        insecure: config.security.insecure,
        ..hyphae_core::Config::default()
    };
    core.transfer_timeout = Duration::from_secs(30);
    let seed = config.node.seed;
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || Box::new(HostNode::new(core, NodeId(id), seed)))
        .and_then(|h| {
            h.join()
                .map_err(|_| std::io::Error::other("node construction panicked"))
        })
        // Constructing a node cannot fail; a failure to spawn a thread is fatal for any shell.
        .unwrap_or_else(|e| panic!("cannot build the node: {e}"))
}

/// Start the node described by `config`.
pub async fn start(config: &Config, metrics: Arc<Metrics>) -> Result<Host, StartError> {
    let security = config.security.load().map_err(StartError::Security)?;
    let id = match &security {
        Some((s, _, _)) => {
            let id = s.node_id().0;
            if config
                .node
                .id
                .as_deref()
                .and_then(parse_node_id)
                .is_some_and(|c| c != id)
            {
                return Err(StartError::Security(format!(
                    "node.id differs from the identity's node id {}",
                    hex(&id)
                )));
            }
            id
        }
        None => {
            tracing::warn!(
                "[security] insecure = true: frames are sent and accepted unauthenticated"
            );
            resolve_id(config)?
        }
    };
    let mut node = build_node(config, id);
    let (counters, mgmt) = match security {
        Some((s, store, seqs)) => {
            node.set_security(s)
                .map_err(|e| StartError::Security(e.to_string()))?;
            let app = node
                .register_app(crate::mgmt::APP_NAME)
                .map_err(|e| StartError::Security(format!("{}: {e}", crate::mgmt::APP_NAME)))?;
            (Some(store), Some((app, seqs)))
        }
        None => (None, None),
    };
    let mut links = Vec::new();
    let mut link_ids = Vec::new();
    for (i, l) in config.links.iter().enumerate() {
        match l {
            LinkConfig::Udp(u) => {
                let link = UdpLink::bind(u)
                    .await
                    .map_err(|e| StartError::Link(i, e.to_string()))?;
                let lid = node.add_link(link.info()).ok_or_else(|| {
                    StartError::Link(i, "the node has no room for this link".into())
                })?;
                link_ids.push(lid);
                links.push(HostLink::Udp(Arc::new(link)));
            }
            LinkConfig::Rylr998(c) => {
                let link = hyphae_link_rylr998::Rylr998::open(c.clone())
                    .await
                    .map_err(|e| StartError::Link(i, e.to_string()))?;
                let (sender, receiver) = link.into_parts();
                let lid = node.add_link(sender.info()).ok_or_else(|| {
                    StartError::Link(i, "the node has no room for this link".into())
                })?;
                link_ids.push(lid);
                links.push(HostLink::Rylr(sender, Some(receiver)));
            }
            LinkConfig::EspnowBridge(_) => {
                return Err(StartError::Link(
                    i,
                    "serial links are configured but not yet driven by hyphae-host; use type = \"udp\"".into(),
                ));
            }
        }
    }
    for r in &config.routes {
        if let (Some(d), Some(v)) = (parse_node_id(&r.dest), parse_node_id(&r.via)) {
            node.set_route(NodeId(d), NodeId(v));
        }
    }
    metrics.routes.set(config.routes.len() as i64);
    let (frames_tx, frames_rx) = mpsc::channel(1024);
    for (i, link) in links.iter_mut().enumerate() {
        let tx = frames_tx.clone();
        let lid = link_ids[i];
        let link = match link {
            HostLink::Udp(l) => l.clone(),
            HostLink::Rylr(_, receiver) => {
                let Some(mut receiver) = receiver.take() else {
                    continue;
                };
                tokio::spawn(async move {
                    while let Some(d) = receiver.recv().await {
                        if tx.send((lid, d.from, d.meta, d.data)).await.is_err() {
                            return;
                        }
                    }
                    tracing::warn!("rylr998 link closed");
                });
                continue;
            }
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                match link.recv(&mut buf).await {
                    Ok((n, from)) => {
                        let from = LinkAddr::from_socket_addr(from);
                        if tx
                            .send((lid, from, RxMeta::default(), buf[..n].to_vec()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "udp receive failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    let (tx, rx) = mpsc::channel(1024);
    let handle = HostHandle { tx };
    let addrs: Vec<SocketAddr> = links
        .iter()
        .filter_map(|l| match l {
            HostLink::Udp(u) => Some(u.local_addr()),
            HostLink::Rylr(..) => None,
        })
        .collect();
    let mut subscribers: HashMap<AppId, Vec<EventSink>> = HashMap::new();
    for name in &config.apps {
        if let Ok(app) = node.register_app(name) {
            subscribers.entry(app).or_default();
        }
    }
    if let Some((app, _)) = &mgmt {
        // API clients may join it to send commands and read the replies.
        subscribers.entry(*app).or_default();
    }
    let shell = Shell {
        node,
        links,
        link_ids,
        metrics,
        subscribers,
        owners: HashMap::new(),
        epoch: tokio::time::Instant::now(),
        counters,
        mgmt,
    };
    let task = tokio::spawn(shell.run(frames_rx, rx));
    Ok(Host {
        handle,
        id,
        links: addrs,
        api: None,
        metrics: None,
        task,
    })
}

/// A link the shell drives.
enum HostLink {
    Udp(Arc<UdpLink>),
    /// The sending half, and the receiving half until its task takes it.
    Rylr(
        hyphae_link_rylr998::Rylr998Sender,
        Option<mpsc::Receiver<hyphae_link_rylr998::Datagram>>,
    ),
}

impl HostLink {
    async fn send(&self, to: LinkAddr, bytes: &[u8]) -> Result<(), String> {
        match self {
            Self::Udp(u) => u.send_link(to, bytes).await.map_err(|e| e.to_string()),
            Self::Rylr(s, _) => s.send(&to, bytes).await.map_err(|e| e.to_string()),
        }
    }
}

struct Shell {
    node: Box<HostNode>,
    links: Vec<HostLink>,
    link_ids: Vec<LinkId>,
    metrics: Arc<Metrics>,
    subscribers: HashMap<AppId, Vec<EventSink>>,
    owners: HashMap<SendId, EventSink>,
    epoch: tokio::time::Instant,
    /// Where frame-counter reservations are persisted (secure nodes).
    counters: Option<hyphae_crypto::FileCounterStore>,
    /// The management application and where accepted command sequences are kept.
    mgmt: Option<(AppId, crate::mgmt::SequenceFile)>,
}

impl Shell {
    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    async fn run(
        mut self,
        mut frames: mpsc::Receiver<(LinkId, LinkAddr, RxMeta, Vec<u8>)>,
        mut requests: mpsc::Receiver<Request>,
    ) {
        let mut buf = vec![0u8; 1470];
        let mut last_sync = tokio::time::Instant::now();
        loop {
            // Out: transmits, then events.
            let now = self.now();
            while let Some(t) = self.node.poll_transmit(now, &mut buf) {
                if let Some(i) = self.link_ids.iter().position(|l| *l == t.link)
                    && let Err(e) = self.links[i].send(t.to, &buf[..t.len]).await
                {
                    tracing::debug!(error = %e, to = %t.to, "transmit failed");
                }
            }
            while let Some(ev) = self.node.poll_event() {
                self.on_event(ev);
            }
            if last_sync.elapsed() > Duration::from_millis(200) {
                last_sync = tokio::time::Instant::now();
                self.sync_metrics();
            }
            let deadline = self
                .node
                .poll_timeout()
                .map(|t| self.epoch + Duration::from_micros(t.as_micros()))
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(1));
            tokio::select! {
                f = frames.recv() => {
                    let Some((link, from, meta, bytes)) = f else { return };
                    let now = self.now();
                    self.node.handle_datagram(now, link, from, meta, &bytes);
                    // Take whatever else already arrived before polling outputs again.
                    while let Ok((link, from, meta, bytes)) = frames.try_recv() {
                        self.node.handle_datagram(now, link, from, meta, &bytes);
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    let now = self.now();
                    self.node.handle_timeout(now);
                }
                r = requests.recv() => {
                    let Some(r) = r else { return };
                    self.on_request(r);
                }
            }
        }
    }

    fn sync_metrics(&self) {
        let m = &self.metrics;
        m.sync(self.node.counters());
        m.peers.set(self.node.peers().len() as i64);
        m.queue_depth.set(self.node.queue_depth() as i64);
        let (a, b) = self.node.transfers();
        m.transfers.set((a + b) as i64);
        let oversize: u64 = self
            .links
            .iter()
            .map(|l| match l {
                HostLink::Udp(u) => u.oversize(),
                HostLink::Rylr(s, _) => s
                    .stats()
                    .decode_errors
                    .load(std::sync::atomic::Ordering::Relaxed),
            })
            .sum();
        if oversize > m.oversize.get() {
            m.oversize.inc_by(oversize - m.oversize.get());
        }
        for (i, lid) in self.link_ids.iter().enumerate() {
            if let Some((used, _)) = self.node.airtime(*lid) {
                m.airtime_us
                    .get_or_create(&crate::metrics::LinkLabel {
                        link: i.to_string(),
                    })
                    .set(used.as_micros() as i64);
            }
        }
    }

    fn on_request(&mut self, r: Request) {
        let now = self.now();
        match r {
            Request::Register {
                name,
                events,
                reply,
            } => {
                let res = match self.node.register_app(&name) {
                    Ok(app) => Ok(app),
                    // Already registered (by config or another client): join it.
                    Err(_) => AppId::from_name(&name)
                        .filter(|a| self.subscribers.contains_key(a))
                        .ok_or_else(|| format!("cannot register {name:?}")),
                };
                let res = res.map(|app| {
                    self.subscribers.entry(app).or_default().push(events);
                    app.0
                });
                let _ = reply.send(res);
            }
            Request::Send {
                app,
                to,
                data,
                events,
                reply,
            } => {
                let app = AppId(app);
                let res = match to {
                    Some(to) => self.node.send(now, app, NodeId(to), &data),
                    None => self.node.broadcast(now, app, &data),
                };
                let res = res.map(|id| {
                    self.owners.insert(id, events);
                    id.0
                });
                let _ = reply.send(res.map_err(|e| e.to_string()));
            }
            Request::Info(reply) => {
                let _ = reply.send(Info {
                    id: self.node.id().0,
                    peers: self.node.peers().iter().map(|p| p.id.0).collect(),
                    links: self
                        .links
                        .iter()
                        .filter_map(|l| match l {
                            HostLink::Udp(u) => Some(u.local_addr()),
                            HostLink::Rylr(..) => None,
                        })
                        .collect(),
                });
            }
        }
    }

    /// A management command arrived: verify, run, answer (`crate::mgmt`).
    fn on_command(&mut self, from: NodeId, envelope: &[u8]) {
        let Some((app, seqs)) = self.mgmt.clone() else {
            return;
        };
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| u32::try_from(d.as_secs()).ok());
        let verified = self.node.security_mut().map(|s| {
            let inner = s.inner_mut();
            inner
                .verify_command(envelope, now_s)
                .map(|(h, p)| (h, p.to_vec(), inner.command_sequences()))
        });
        let answer = match verified {
            Some(Ok((header, payload, sequences))) => {
                if let Err(e) = seqs.store(&sequences) {
                    tracing::error!(error = %e, "cannot persist management sequences");
                }
                tracing::info!(
                    admin = header.admin,
                    sequence = header.sequence,
                    "management command"
                );
                match payload.as_slice() {
                    b"ping" => format!("pong {}", hex(&self.node.id().0)),
                    b"status" => {
                        let c = self.node.counters();
                        serde_json::json!({
                            "id": hex(&self.node.id().0),
                            "peers": self.node.peers().len(),
                            "frames_in": c.frames_in,
                            "frames_out": c.frames_out,
                            "delivered": c.delivered,
                            "unauthenticated": c.drop_count(hyphae_core::DropReason::Unauthenticated),
                            "replayed": c.drop_count(hyphae_core::DropReason::Replayed),
                        })
                        .to_string()
                    }
                    other => format!("unknown command {:?}", String::from_utf8_lossy(other)),
                }
            }
            Some(Err(e)) => {
                tracing::warn!(from = %hex(&from.0), error = %e, "management command refused");
                format!("refused: {e}")
            }
            None => return,
        };
        let mut reply = crate::mgmt::REPLY.to_vec();
        reply.extend_from_slice(answer.as_bytes());
        let now = self.now();
        if let Err(e) = self.node.send(now, app, from, &reply) {
            tracing::debug!(error = %e, "management reply not sent");
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Delivered(d) => {
                let mut data = vec![0u8; d.len];
                if self.node.take_delivery(d.id, &mut data).is_none() {
                    return;
                }
                if self.mgmt.as_ref().is_some_and(|(app, _)| *app == d.app)
                    && !data.starts_with(crate::mgmt::REPLY)
                {
                    self.on_command(d.from, &data);
                }
                if let Some(subs) = self.subscribers.get_mut(&d.app) {
                    let e = AppEvent::Delivered {
                        app: d.app.0,
                        from: d.from.0,
                        data,
                        broadcast: d.broadcast,
                    };
                    subs.retain(|s| s.send(e.clone()).is_ok());
                }
            }
            Event::SendDone { id, .. } => {
                if let Some(s) = self.owners.remove(&id) {
                    let _ = s.send(AppEvent::SendDone { send: id.0 });
                }
            }
            Event::SendFailed { id, reason, .. } => {
                tracing::debug!(send = id.0, %reason, "send failed");
                if let Some(s) = self.owners.remove(&id) {
                    let _ = s.send(AppEvent::SendFailed {
                        send: id.0,
                        reason: reason.to_string(),
                    });
                }
            }
            Event::CounterReserve(r) => {
                // Durable first, then confirm: a counter is never used before it is stored.
                let stored = self
                    .counters
                    .as_mut()
                    .map(|c| hyphae_crypto::CounterStore::store(c, r));
                match stored {
                    Some(Ok(())) => self.node.counter_persisted(r),
                    Some(Err(e)) => tracing::error!(error = %e, "cannot store the frame counter"),
                    None => {}
                }
            }
            Event::PeerUp(p) => tracing::info!(peer = %hex(&p.0), "peer up"),
            Event::PeerDown(p) => tracing::info!(peer = %hex(&p.0), "peer down"),
            Event::PeerEvicted(p) => tracing::info!(peer = %hex(&p.0), "peer evicted"),
            _ => {}
        }
    }
}

/// Lowercase hex of a node id.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
