//! Prometheus metrics (prometheus-client) and a minimal `/metrics` HTTP endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use hyphae_core::{Counters, DropReason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Label set for drops.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The drop reason's name.
    pub reason: String,
}

/// Label set per link.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LinkLabel {
    /// Link index.
    pub link: String,
}

/// Every metric the host exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Frames received.
    pub frames_in: Counter,
    /// Frames sent.
    pub frames_out: Counter,
    /// Received frames dropped, by reason.
    pub drops: Family<ReasonLabel, Counter>,
    /// Retransmitted fragments.
    pub retransmissions: Counter,
    /// Payloads delivered to applications.
    pub delivered: Counter,
    /// Neighbours in the peer table.
    pub peers: Gauge,
    /// Static routes installed.
    pub routes: Gauge,
    /// Frames waiting to be sent.
    pub queue_depth: Gauge,
    /// Active transfers (inbound + outbound).
    pub transfers: Gauge,
    /// Airtime used in the current window, microseconds, per link.
    pub airtime_us: Family<LinkLabel, Gauge>,
    /// Application API connections.
    pub api_clients: Gauge,
    /// Datagrams over the MTU dropped by links.
    pub oversize: Counter<u64, AtomicU64>,
}

impl Metrics {
    /// A registry holding these metrics (prefixed `hyphae_`).
    pub fn register(self: &Arc<Self>) -> Registry {
        let mut r = Registry::with_prefix("hyphae");
        r.register("frames_in", "Frames received", self.frames_in.clone());
        r.register("frames_out", "Frames sent", self.frames_out.clone());
        r.register(
            "drops",
            "Received frames dropped, by reason",
            self.drops.clone(),
        );
        r.register(
            "retransmissions",
            "Fragments retransmitted",
            self.retransmissions.clone(),
        );
        r.register(
            "delivered",
            "Payloads delivered to applications",
            self.delivered.clone(),
        );
        r.register("peers", "Neighbours in the peer table", self.peers.clone());
        r.register("routes", "Static routes installed", self.routes.clone());
        r.register(
            "queue_depth",
            "Frames waiting to be sent",
            self.queue_depth.clone(),
        );
        r.register("transfers", "Active transfers", self.transfers.clone());
        r.register(
            "airtime_microseconds",
            "Airtime used in the current window",
            self.airtime_us.clone(),
        );
        r.register(
            "api_clients",
            "Application API connections",
            self.api_clients.clone(),
        );
        r.register(
            "oversize_datagrams",
            "Datagrams over the link MTU",
            self.oversize.clone(),
        );
        r
    }

    /// Bring counters up to the core's values (core counters only grow).
    pub fn sync(&self, c: &Counters) {
        fn up(counter: &Counter, to: u64) {
            let now = counter.get();
            if to > now {
                counter.inc_by(to - now);
            }
        }
        up(&self.frames_in, c.frames_in);
        up(&self.frames_out, c.frames_out);
        up(&self.retransmissions, c.retransmissions);
        up(&self.delivered, c.delivered);
        for r in DropReason::ALL {
            up(
                &self.drops.get_or_create(&ReasonLabel {
                    reason: r.name().to_owned(),
                }),
                c.drop_count(r),
            );
        }
    }
}

/// Serve `GET /metrics` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 1024];
                let n = s.read(&mut req).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&req[..n]);
                let (status, body) = if head.starts_with("GET /metrics") {
                    let mut body = String::new();
                    let _ = prometheus_client::encoding::text::encode(&mut body, &registry);
                    ("200 OK", body)
                } else {
                    ("404 Not Found", "try /metrics\n".to_owned())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(local)
}
