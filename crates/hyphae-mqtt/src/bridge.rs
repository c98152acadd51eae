//! The connection to the broker: QoS 1 publishing with the gateway's own acknowledgement
//! tracking, a last will, downlink subscriptions, and the disk spool while the broker is away.
//!
//! Ordering: a message goes straight to the client only when the broker is connected and
//! nothing older waits; otherwise it is appended to the spool. Messages handed to the client but
//! not yet acknowledged (QoS 1) or not yet written (QoS 0) are tracked here, not in rumqttc
//! (whose clean sessions forget them): when the connection drops they go back to the head of the
//! queue and are published again after the reconnect, before the spool, then new messages. So
//! the broker sees the stream in order, at least once, as long as the spool bound holds; only
//! QoS 0 messages already written to a dying socket can be lost.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::mpsc;

use crate::gateway::MqttMessage;
use crate::spool::Spool;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Broker URL: `mqtt://host[:port]` (or `host:port`).
    pub url: String,
    /// MQTT client id.
    pub client_id: String,
    /// Topic for `online` on connect and `offline` as last will (retained), if any.
    pub status_topic: Option<String>,
    /// Topic filters to subscribe to (QoS 1) after each connect.
    pub subscribe: Vec<String>,
    /// Spool directory (`None`: a `hyphae-spool-<client id>` folder in the temp dir).
    pub spool_dir: Option<PathBuf>,
    /// Most messages in the spool.
    pub spool_max_messages: usize,
    /// Most bytes in the spool.
    pub spool_max_bytes: u64,
    /// Pause between reconnection attempts.
    pub reconnect_delay: Duration,
    /// Keep-alive towards the broker.
    pub keep_alive: Duration,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "hyphae-gateway".into(),
            status_topic: None,
            subscribe: Vec::new(),
            spool_dir: None,
            spool_max_messages: 100_000,
            spool_max_bytes: 64 << 20,
            reconnect_delay: Duration::from_millis(250),
            keep_alive: Duration::from_secs(10),
        }
    }
}

/// Why the bridge could not start.
#[derive(Debug)]
pub enum BridgeError {
    /// The URL is not `mqtt://host[:port]`.
    BadUrl(String),
    /// The spool could not be opened.
    Spool(std::io::Error),
}

impl core::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadUrl(u) => write!(f, "mqtt url {u:?}: expected mqtt://host[:port]"),
            Self::Spool(e) => write!(f, "spool: {e}"),
        }
    }
}

impl std::error::Error for BridgeError {}

/// Live counters of a bridge.
#[derive(Debug, Default)]
pub struct BridgeStats {
    /// Whether the broker connection is up.
    pub connected: AtomicBool,
    /// Messages handed to the broker connection (including re-sends).
    pub sent: AtomicU64,
    /// QoS 1 acknowledgements received.
    pub acked: AtomicU64,
    /// Messages waiting in the spool.
    pub spooled: AtomicU64,
    /// Messages dropped because the spool was full.
    pub dropped: AtomicU64,
    /// Successful connections (the first one included).
    pub connects: AtomicU64,
    /// Messages re-queued after a connection loss.
    pub requeued: AtomicU64,
}

/// Handle to a running bridge.
#[derive(Debug, Clone)]
pub struct Bridge {
    tx: mpsc::Sender<MqttMessage>,
    stats: Arc<BridgeStats>,
}

/// A message received on a subscribed topic.
pub type Incoming = (String, Vec<u8>);

/// Split `mqtt://host:port` into host and port (default 1883).
pub fn parse_url(url: &str) -> Option<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url);
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => {
            Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?))
        }
        Some(_) => None,
        None => Some((rest.to_owned(), 1883)),
    }
}

impl Bridge {
    /// Start the bridge task; messages on subscribed topics go to `incoming`.
    pub fn spawn(
        config: BridgeConfig,
        incoming: mpsc::Sender<Incoming>,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), BridgeError> {
        let (host, port) =
            parse_url(&config.url).ok_or_else(|| BridgeError::BadUrl(config.url.clone()))?;
        let dir = config.spool_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("hyphae-spool-{}", config.client_id))
        });
        let spool = Spool::open(&dir, config.spool_max_messages, config.spool_max_bytes)
            .map_err(BridgeError::Spool)?;
        let mut opts = MqttOptions::new(config.client_id.clone(), host, port);
        opts.set_keep_alive(config.keep_alive.max(Duration::from_secs(1)));
        opts.set_clean_session(true);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        opts.set_inflight(100);
        if let Some(t) = &config.status_topic {
            opts.set_last_will(LastWill::new(t.clone(), "offline", QoS::AtLeastOnce, true));
        }
        let (client, eventloop) = AsyncClient::new(opts, 256);
        let (tx, rx) = mpsc::channel(4096);
        let stats = Arc::new(BridgeStats::default());
        stats.spooled.store(spool.len() as u64, Ordering::Relaxed);
        let task = Task {
            config,
            client,
            spool,
            stats: stats.clone(),
            retry: VecDeque::new(),
            handed: VecDeque::new(),
            unacked: BTreeMap::new(),
            seq: 0,
            connected: false,
        };
        let handle = tokio::spawn(task.run(eventloop, rx, incoming));
        Ok((Self { tx, stats }, handle))
    }

    /// Queue a message for the broker (waits only if 4096 messages are already queued).
    pub async fn publish(&self, m: MqttMessage) -> bool {
        self.tx.send(m).await.is_ok()
    }

    /// The live counters.
    pub fn stats(&self) -> &Arc<BridgeStats> {
        &self.stats
    }
}

struct Task {
    config: BridgeConfig,
    client: AsyncClient,
    spool: Spool,
    stats: Arc<BridgeStats>,
    /// Handed out before a connection loss, to publish again first.
    retry: VecDeque<(u64, MqttMessage)>,
    /// Given to the client, waiting for rumqttc's `Outgoing::Publish` (FIFO).
    handed: VecDeque<(u64, Option<MqttMessage>)>,
    /// Written, waiting for PUBACK, by packet id.
    unacked: BTreeMap<u16, (u64, MqttMessage)>,
    seq: u64,
    connected: bool,
}

fn qos(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

impl Task {
    async fn run(
        mut self,
        mut eventloop: rumqttc::EventLoop,
        mut rx: mpsc::Receiver<MqttMessage>,
        incoming: mpsc::Sender<Incoming>,
    ) {
        let mut backoff: Option<tokio::time::Instant> = None;
        let mut input_open = true;
        // Set when rumqttc's queue was full; cleared by its next event (it drained something).
        let mut stalled = false;
        loop {
            let can_flush =
                !stalled && self.connected && (!self.retry.is_empty() || !self.spool.is_empty());
            tokio::select! {
                biased;
                ev = eventloop.poll(), if backoff.is_none() => match ev {
                    Ok(ev) => {
                        stalled = false;
                        self.on_event(ev, &incoming).await;
                    }
                    Err(e) => {
                        if self.connected {
                            tracing::warn!(error = %e, "broker connection lost; spooling");
                        } else {
                            tracing::debug!(error = %e, "broker unreachable");
                        }
                        self.on_disconnect();
                        backoff = Some(tokio::time::Instant::now() + self.config.reconnect_delay);
                    }
                },
                () = async { if let Some(b) = backoff { tokio::time::sleep_until(b).await } }, if backoff.is_some() => {
                    backoff = None;
                }
                () = tokio::task::yield_now(), if can_flush => stalled = !self.flush_some(),
                m = rx.recv(), if input_open => match m {
                    Some(m) => self.accept(m),
                    None => input_open = false,
                },
            }
            if !input_open && self.is_drained() {
                // Give the last acknowledgements a moment, then stop.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while !self.unacked.is_empty() || !self.handed.is_empty() {
                        match eventloop.poll().await {
                            Ok(ev) => self.on_event(ev, &incoming).await,
                            Err(_) => break,
                        }
                    }
                })
                .await;
                let _ = self.client.try_disconnect();
                return;
            }
        }
    }

    fn is_drained(&self) -> bool {
        self.retry.is_empty() && self.spool.is_empty()
    }

    fn accept(&mut self, m: MqttMessage) {
        if self.connected && self.retry.is_empty() && self.spool.is_empty() {
            self.seq += 1;
            if self.hand(self.seq, m.clone()) {
                return;
            }
        }
        self.spool_one(&m);
    }

    fn spool_one(&mut self, m: &MqttMessage) {
        match self.spool.push(m) {
            Ok(true) => {}
            Ok(false) => {
                self.stats
                    .dropped
                    .store(self.spool.dropped(), Ordering::Relaxed);
                if self.spool.dropped().is_power_of_two() {
                    tracing::warn!(
                        dropped = self.spool.dropped(),
                        "spool full: dropping messages"
                    );
                }
            }
            Err(e) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "spool write failed: message dropped");
            }
        }
        self.stats
            .spooled
            .store(self.spool.len() as u64, Ordering::Relaxed);
    }

    /// Give one message to rumqttc; false if its queue is full.
    fn hand(&mut self, seq: u64, m: MqttMessage) -> bool {
        // QoS 0 is not kept (at most once): only its place in the FIFO is.
        let (q, retain) = (m.qos, m.retain);
        let (keep, topic, payload) = if q == 0 {
            (None, m.topic, m.payload)
        } else {
            (Some(m.clone()), m.topic, m.payload)
        };
        match self.client.try_publish(topic, qos(q), retain, payload) {
            Ok(()) => {
                self.handed.push_back((seq, keep));
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Move up to 64 waiting messages to the client; false if its queue was full at once.
    fn flush_some(&mut self) -> bool {
        for i in 0..64 {
            if let Some((seq, m)) = self.retry.pop_front() {
                if !self.hand(seq, m.clone()) {
                    self.retry.push_front((seq, m));
                    return i > 0;
                }
                continue;
            }
            match self.spool.front() {
                Ok(Some(m)) => {
                    self.seq += 1;
                    if !self.hand(self.seq, m) {
                        return i > 0;
                    }
                    if let Err(e) = self.spool.pop() {
                        tracing::error!(error = %e, "spool pop failed");
                    }
                    self.stats
                        .spooled
                        .store(self.spool.len() as u64, Ordering::Relaxed);
                }
                Ok(None) => return true,
                Err(e) => {
                    tracing::error!(error = %e, "spool read failed: message dropped");
                    let _ = self.spool.pop();
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        true
    }

    async fn on_event(&mut self, ev: Event, incoming: &mpsc::Sender<Incoming>) {
        match ev {
            Event::Incoming(Packet::ConnAck(_)) => {
                self.connected = true;
                self.stats.connected.store(true, Ordering::Relaxed);
                let n = self.stats.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(url = %self.config.url, reconnect = n > 0, "connected to the MQTT broker");
                for f in &self.config.subscribe {
                    let _ = self.client.try_subscribe(f.clone(), QoS::AtLeastOnce);
                }
                if let Some(t) = &self.config.status_topic {
                    // Not tracked: a fresh "online" follows every connect anyway.
                    let _ = self
                        .client
                        .try_publish(t.clone(), QoS::AtLeastOnce, true, "online");
                    self.handed.push_back((0, None));
                }
            }
            Event::Incoming(Packet::Publish(p)) => {
                let _ = incoming.send((p.topic, p.payload.to_vec())).await;
            }
            Event::Incoming(Packet::PubAck(a)) if self.unacked.remove(&a.pkid).is_some() => {
                self.stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some((seq, Some(m))) = self.handed.pop_front()
                    && seq > 0
                {
                    self.unacked.insert(pkid, (seq, m));
                }
            }
            _ => {}
        }
    }

    fn on_disconnect(&mut self) {
        self.connected = false;
        self.stats.connected.store(false, Ordering::Relaxed);
        let mut back: Vec<(u64, MqttMessage)> =
            std::mem::take(&mut self.unacked).into_values().collect();
        back.extend(
            self.handed
                .drain(..)
                .filter_map(|(seq, m)| m.filter(|_| seq > 0).map(|m| (seq, m))),
        );
        if back.is_empty() {
            return;
        }
        self.stats
            .requeued
            .fetch_add(back.len() as u64, Ordering::Relaxed);
        back.extend(self.retry.drain(..));
        back.sort_by_key(|(seq, _)| *seq);
        self.retry = back.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://localhost:1884"),
            Some(("localhost".into(), 1884))
        );
        assert_eq!(
            parse_url("mqtt://10.0.0.2"),
            Some(("10.0.0.2".into(), 1883))
        );
        assert_eq!(parse_url("broker:7"), Some(("broker".into(), 7)));
        assert_eq!(parse_url("mqtt://h:notaport"), None);
        assert_eq!(parse_url("mqtt://"), None);
        assert_eq!(parse_url("http://x/y"), None);
    }
}
