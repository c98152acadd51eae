//! The local application API: JSON lines over localhost TCP or a Unix socket
//! (`docs/spec/app-api.md`), and a Rust client for it.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::b64;
use crate::config::parse_node_id;
use crate::runner::{AppEvent, HostHandle, hex};

/// Start serving `listen` (`tcp:<addr>` or `unix:<path>`); returns the bound address text.
pub async fn serve(listen: &str, handle: HostHandle) -> std::io::Result<String> {
    if let Some(path) = listen.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        let l = tokio::net::UnixListener::bind(path)?;
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let (r, w) = s.into_split();
                tokio::spawn(connection(r, w, handle.clone()));
            }
        });
        return Ok(listen.to_owned());
    }
    let addr = listen.strip_prefix("tcp:").unwrap_or(listen);
    let l = tokio::net::TcpListener::bind(addr).await?;
    let local = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            let (r, w) = s.into_split();
            tokio::spawn(connection(r, w, handle.clone()));
        }
    });
    Ok(format!("tcp:{local}"))
}

/// JSON for one event.
pub fn event_json(e: &AppEvent) -> Value {
    match e {
        AppEvent::Delivered {
            app,
            from,
            data,
            broadcast,
        } => json!({
            "event": "delivered", "app": app, "from": hex(from),
            "data": b64::encode(data), "broadcast": broadcast
        }),
        AppEvent::SendDone { send } => json!({ "event": "send_done", "send": send }),
        AppEvent::SendFailed { send, reason } => {
            json!({ "event": "send_failed", "send": send, "reason": reason })
        }
    }
}

async fn connection<R, W>(r: R, mut w: W, handle: HostHandle)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<AppEvent>();
    let writer = tokio::spawn(async move {
        loop {
            let v = tokio::select! {
                v = out_rx.recv() => v,
                e = ev_rx.recv() => e.map(|e| event_json(&e)),
            };
            let Some(v) = v else { return };
            let mut line = v.to_string();
            line.push('\n');
            if w.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(req) => request(&req, &handle, &ev_tx).await,
            Err(e) => json!({ "ok": false, "error": format!("not JSON: {e}") }),
        };
        if out_tx.send(reply).is_err() {
            break;
        }
    }
    drop(out_tx);
    drop(ev_tx);
    writer.abort();
}

fn app_id(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => hyphae_wire::AppId::from_name(s).map(|a| a.0),
        _ => None,
    }
}

async fn request(
    req: &Value,
    handle: &HostHandle,
    events: &mpsc::UnboundedSender<AppEvent>,
) -> Value {
    let op = req["op"].as_str().unwrap_or("");
    let tag = req.get("ref").cloned().unwrap_or(Value::Null);
    let res: Result<Value, String> = async {
        match op {
            "register" | "subscribe" => {
                let name = req["app"]
                    .as_str()
                    .ok_or("app: expected the application name")?;
                let id = handle.register(name, events.clone()).await?;
                Ok(json!({ "app": id }))
            }
            "send" | "broadcast" => {
                let app = app_id(&req["app"]).ok_or("app: expected a name or a numeric id")?;
                let data = match (&req["data"], &req["text"]) {
                    (Value::String(d), _) => b64::decode(d).ok_or("data: not base64")?,
                    (_, Value::String(t)) => t.clone().into_bytes(),
                    _ => return Err("data: expected base64 (or text: a string)".into()),
                };
                let to = if op == "send" {
                    let to = req["to"].as_str().ok_or("to: expected a node id")?;
                    Some(parse_node_id(to).ok_or("to: not 16 hex digits")?)
                } else {
                    None
                };
                let send = handle.send(app, to, data, events.clone()).await?;
                Ok(json!({ "send": send }))
            }
            "info" => {
                let i = handle.info().await?;
                Ok(json!({
                    "id": hex(&i.id),
                    "peers": i.peers.iter().map(|p| hex(p)).collect::<Vec<_>>(),
                    "links": i.links.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }))
            }
            _ => Err(format!("op: unknown operation {op:?}")),
        }
    }
    .await;
    let mut v = match res {
        Ok(mut v) => {
            v["ok"] = json!(true);
            v
        }
        Err(e) => json!({ "ok": false, "error": e }),
    };
    v["op"] = json!(op);
    if !tag.is_null() {
        v["ref"] = tag;
    }
    v
}

/// A Rust client of the application API (TCP).
#[derive(Debug)]
pub struct Client {
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    w: tokio::net::tcp::OwnedWriteHalf,
    pending_events: std::collections::VecDeque<Value>,
}

impl Client {
    /// Connect to `tcp:<addr>` (or a bare `<addr>`).
    pub async fn connect(addr: &str) -> std::io::Result<Self> {
        let s = tokio::net::TcpStream::connect(addr.strip_prefix("tcp:").unwrap_or(addr)).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Self {
            lines: BufReader::new(r).lines(),
            w,
            pending_events: Default::default(),
        })
    }

    /// Send one request and wait for its reply (events that arrive meanwhile are kept).
    pub async fn call(&mut self, req: Value) -> std::io::Result<Value> {
        let mut line = req.to_string();
        line.push('\n');
        self.w.write_all(line.as_bytes()).await?;
        loop {
            let v = self.read().await?;
            if v.get("event").is_some() {
                self.pending_events.push_back(v);
            } else {
                return Ok(v);
            }
        }
    }

    /// Register (subscribe to) an application by name; its numeric id.
    pub async fn register(&mut self, app: &str) -> std::io::Result<u16> {
        let v = self.call(json!({ "op": "register", "app": app })).await?;
        v["app"].as_u64().map(|a| a as u16).ok_or_else(|| other(&v))
    }

    /// Send bytes reliably; the send id.
    pub async fn send(&mut self, app: &str, to: &[u8; 8], data: &[u8]) -> std::io::Result<u32> {
        let v = self
            .call(json!({ "op": "send", "app": app, "to": hex(to), "data": b64::encode(data) }))
            .await?;
        v["send"]
            .as_u64()
            .map(|a| a as u32)
            .ok_or_else(|| other(&v))
    }

    /// The next event (`delivered`, `send_done`, `send_failed`).
    pub async fn next_event(&mut self) -> std::io::Result<Value> {
        if let Some(v) = self.pending_events.pop_front() {
            return Ok(v);
        }
        self.read().await
    }

    async fn read(&mut self) -> std::io::Result<Value> {
        let line = self.lines.next_line().await?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "node closed the API connection",
            )
        })?;
        serde_json::from_str(&line)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

fn other(v: &Value) -> std::io::Error {
    std::io::Error::other(v["error"].as_str().unwrap_or("unexpected reply").to_owned())
}

/// Decode the `data` field of a `delivered` event.
pub fn event_data(v: &Value) -> Option<Vec<u8>> {
    b64::decode(v["data"].as_str()?)
}
