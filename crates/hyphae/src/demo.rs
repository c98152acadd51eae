//! `hyphae demo`: zero configuration. A simulated ESP-NOW mesh of about 50 nodes (250-byte
//! frames, 1 Mbit/s airtime, 2 % frame loss, radio range of one grid step including diagonals)
//! runs in real time in this process; sensor nodes speak the device–gateway protocol
//! (CONNECT → CONNACK → PUBLISH) to a gateway node over one or several hops; the gateway
//! publishes into an MQTT broker (embedded rumqttd unless `--mqtt URL`), and an ordinary MQTT
//! subscriber prints what it receives, with a live summary.
//!
//! Every node is provisioned (identity, credential, network key): frames are sealed. Routing is
//! the core's own: three spanning trees, greedy forwarding, names resolved by the protocol's
//! position requests; devices beyond one hop address their CONNECT to the gateway's node id
//! (standing in for service discovery). `--static-routes` installs breadth-first shortest
//! paths instead (`set_route`), for comparison.

#![allow(clippy::needless_range_loop)] // nodes are addressed by index throughout

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use hyphae_core::security::Provisioner;
use hyphae_core::{
    AppId, Config, Event, Instant, LinkAddr, LinkInfo, LinkKind, NodeId, RxMeta, SimNode,
};
use hyphae_mqtt::gateway::emit;
use hyphae_mqtt::{Bridge, BridgeConfig, Gateway, GatewayConfig, Output, PayloadFormat};
use hyphae_wire::device::{Qos, ReturnCode};
use hyphae_wire::{DevicePacket, DeviceRepr};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::mpsc;

/// Arguments of `hyphae demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// Publish into this broker (`mqtt://host:port`) instead of an embedded one.
    #[arg(long)]
    pub(crate) mqtt: Option<String>,
    /// Number of simulated nodes, gateway included.
    #[arg(long, default_value_t = 50)]
    pub(crate) nodes: usize,
    /// Seconds between readings of each sensor.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) interval: f64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Print only the summaries, not every message.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Install static shortest-path routes instead of using tree routing.
    #[arg(long)]
    pub(crate) static_routes: bool,
}

const LOSS_PER_MILLE: u64 = 20;

/// The identity seed of demo node `i` (every node is provisioned: security is on).
fn identity_seed(i: usize) -> [u8; 32] {
    let mut s = [0xd0u8; 32];
    s[0] = i as u8;
    s[1] = (i >> 8) as u8;
    s
}

/// The node id of demo node `i`: derived from its identity's public key.
fn node_id(i: usize) -> NodeId {
    NodeId(
        hyphae_crypto::Identity::from_seed(&identity_seed(i))
            .node_id()
            .0,
    )
}

/// The demo network: its admin, name and key (one process plays the admin).
fn network() -> Provisioner {
    Provisioner::new(&[0xad; 32], b"hyphae demo", [0x5e; 32])
}
fn mac(i: usize) -> [u8; 6] {
    [0x02, 0x4e, 0x4f, 0x57, (i >> 8) as u8, i as u8]
}

/// Splitmix64: the simulation's own deterministic randomness.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
}

/// A frame on the air: (arrival µs, tie-breaker, to, from, bytes).
type InFlight = (u64, u64, usize, usize, Vec<u8>);

enum DevState {
    Connecting { next: Instant },
    Connected { next: Instant, seq: u32 },
}

struct World {
    nodes: Vec<Box<SimNode>>,
    link: Vec<hyphae_core::LinkId>,
    neighbours: Vec<Vec<usize>>,
    hops: Vec<usize>,
    app: AppId,
    queue: BinaryHeap<Reverse<InFlight>>,
    counter: u64,
    rng: Rng,
    busy_until: Vec<u64>,
}

impl World {
    fn new(n: usize, seed: u64, static_routes: bool) -> Self {
        let side = (n as f64).sqrt().ceil() as usize;
        let pos: Vec<(i64, i64)> = (0..n)
            .map(|i| ((i % side) as i64, (i / side) as i64))
            .collect();
        // The gateway sits at the centre: swap it with node 0's position.
        let centre = (side / 2) + side * (side / 2).min((n - 1) / side);
        let mut pos = pos;
        pos.swap(0, centre.min(n - 1));
        let neighbours: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| {
                        j != i
                            && (pos[i].0 - pos[j].0).abs() <= 1
                            && (pos[i].1 - pos[j].1).abs() <= 1
                    })
                    .collect()
            })
            .collect();
        // Breadth-first from the gateway: parent towards it and depth.
        let mut parent = vec![usize::MAX; n];
        let mut hops = vec![usize::MAX; n];
        hops[0] = 0;
        let mut q = VecDeque::from([0usize]);
        while let Some(u) = q.pop_front() {
            for &v in &neighbours[u] {
                if hops[v] == usize::MAX {
                    hops[v] = hops[u] + 1;
                    parent[v] = u;
                    q.push_back(v);
                }
            }
        }
        let config = Config {
            beacon_interval: Duration::from_millis(500),
            ..Config::default()
        };
        let mut nodes = Vec::with_capacity(n);
        let mut link = Vec::with_capacity(n);
        let mut app = None;
        let net = network();
        for i in 0..n {
            let Ok((id, security)) = net.node(&identity_seed(i)) else {
                continue;
            };
            let mut node = Box::new(SimNode::new(config, id, seed.wrapping_add(i as u64)));
            link.push(
                node.add_link(LinkInfo::for_kind(LinkKind::EspNowV1))
                    .unwrap_or(hyphae_core::LinkId(0)),
            );
            app = node.register_app(hyphae_wire::device::APP_NAME).ok();
            // Cannot fail: the node was created with the identity's id.
            let _ = node.set_security(security);
            nodes.push(node);
        }
        // Static shortest-path routes: sensor → gateway via its parent; gateway (and every
        // relay) → sensor via the first hop on the tree path.
        for v in 1..n {
            if !static_routes || hops[v] == usize::MAX {
                continue;
            }
            let mut path = vec![v];
            while *path.last().unwrap_or(&0) != 0 {
                path.push(parent[*path.last().unwrap_or(&0)]);
            }
            // path: v, parent(v), …, 0
            for w in 0..path.len() - 1 {
                // Node path[w] reaches the gateway via path[w+1].
                nodes[path[w]].set_route(node_id(0), node_id(path[w + 1]));
            }
            for w in (1..path.len()).rev() {
                // Node path[w] reaches v via path[w-1].
                nodes[path[w]].set_route(node_id(v), node_id(path[w - 1]));
            }
        }
        Self {
            nodes,
            link,
            neighbours,
            hops,
            app: app.unwrap_or(AppId(0x9712)),
            queue: BinaryHeap::new(),
            counter: 0,
            rng: Rng(seed),
            busy_until: vec![0; n],
        }
    }

    /// Move frames from node `i` onto the simulated air.
    fn transmit(&mut self, i: usize, now: Instant) {
        let mut buf = [0u8; 250];
        while let Some(t) = self.nodes[i].poll_transmit(now, &mut buf) {
            // ESP-NOW v1 at 1 Mbit/s: payload plus ~50 bytes of MAC/PHY overhead, queued
            // behind this radio's previous frame.
            let airtime = ((t.len as u64 + 50) * 8).max(100);
            let start = self.busy_until[i].max(now.as_micros());
            self.busy_until[i] = start + airtime;
            let arrive = start + airtime + 200;
            let targets: Vec<usize> = if t.to.is_broadcast() {
                self.neighbours[i].clone()
            } else {
                self.neighbours[i]
                    .iter()
                    .copied()
                    .filter(|&j| LinkAddr::new(&mac(j)).is_ok_and(|a| a == t.to))
                    .collect()
            };
            for j in targets {
                if self.rng.next() % 1000 < LOSS_PER_MILLE {
                    continue;
                }
                self.counter += 1;
                self.queue
                    .push(Reverse((arrive, self.counter, j, i, buf[..t.len].to_vec())));
            }
        }
    }

    fn deliver_due(&mut self, now: Instant) {
        while let Some(Reverse((at, ..))) = self.queue.peek() {
            if *at > now.as_micros() {
                break;
            }
            let Some(Reverse((_, _, to, from, bytes))) = self.queue.pop() else {
                break;
            };
            let from_addr = LinkAddr::new(&mac(from)).unwrap_or(LinkAddr::BROADCAST);
            let link = self.link[to];
            self.nodes[to].handle_datagram(now, link, from_addr, RxMeta::default(), &bytes);
        }
    }
}

fn reading(i: usize, seq: u32, t: f64) -> (String, Vec<u8>) {
    let phase = i as f64 * 0.7;
    if seq % 5 == 4 {
        // Every fifth message is a longer status report: it travels as several fragments.
        let log: String = (0..30usize)
            .map(|k| {
                format!(
                    "uptime={} rssi=-{} ",
                    t as u64 + k as u64,
                    40 + (i + k) % 30
                )
            })
            .collect();
        return (
            "status".into(),
            format!("{{\"seq\":{seq},\"report\":\"{}\"}}", log.trim()).into_bytes(),
        );
    }
    let temp = 20.0 + 3.0 * (t / 30.0 + phase).sin();
    let rh = 45.0 + 10.0 * (t / 45.0 + phase).cos();
    (
        "sensor".into(),
        format!("{{\"seq\":{seq},\"temp\":{temp:.2},\"humidity\":{rh:.1}}}").into_bytes(),
    )
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    // Keep the screen for the messages: only errors are logged unless RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    anyhow::ensure!(
        (2..=4096).contains(&args.nodes),
        "--nodes: must be within 2..=4096"
    );
    anyhow::ensure!(args.interval > 0.0, "--interval: must be positive");
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(demo(args))
}

async fn demo(args: &Args) -> anyhow::Result<()> {
    let url = match &args.mqtt {
        Some(u) => u.clone(),
        None => {
            let port = if std::net::TcpListener::bind("127.0.0.1:1883").is_ok() {
                1883
            } else {
                hyphae_mqtt::broker::free_port()?
            };
            crate::gateway::broker_url(None, port)?
        }
    };
    let (host, port) = hyphae_mqtt::bridge::parse_url(&url)
        .ok_or_else(|| anyhow::anyhow!("--mqtt {url:?}: expected mqtt://host[:port]"))?;
    let n = args.nodes;
    let mut world = World::new(n, args.seed, args.static_routes);
    let max_hops = world
        .hops
        .iter()
        .filter(|h| **h != usize::MAX)
        .max()
        .copied()
        .unwrap_or(0);
    println!(
        "hyphae demo: {n} simulated ESP-NOW nodes (250-byte frames, {}% loss), gateway {} at the centre, up to {max_hops} hops; broker {url}",
        LOSS_PER_MILLE as f64 / 10.0,
        hyphae_host::runner::hex(&node_id(0).0),
    );
    println!("subscribing to /device/# as an ordinary MQTT client …");

    // The subscriber: a separate MQTT client that prints what the broker delivers.
    let mut o = MqttOptions::new(
        format!("hyphae-demo-viewer-{}", std::process::id()),
        host,
        port,
    );
    o.set_keep_alive(Duration::from_secs(10));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (viewer, mut viewer_ev) = AsyncClient::new(o, 64);
    viewer.subscribe("/device/#", QoS::AtLeastOnce).await?;
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
    tokio::spawn(async move {
        loop {
            match viewer_ev.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    if seen_tx.send((p.topic, p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("viewer: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });

    let mut gw = Gateway::new(GatewayConfig {
        format: PayloadFormat::Raw,
        gateway_id: hyphae_host::runner::hex(&node_id(0).0),
        ..GatewayConfig::default()
    });
    let (in_tx, _in_rx) = mpsc::channel(16);
    let (bridge, _task) = Bridge::spawn(
        BridgeConfig {
            url: url.clone(),
            client_id: format!("hyphae-demo-gw-{}", std::process::id()),
            status_topic: Some(gw.status_topic()),
            spool_dir: Some(
                std::env::temp_dir().join(format!("hyphae-demo-spool-{}", std::process::id())),
            ),
            ..BridgeConfig::default()
        },
        in_tx,
    )?;

    let mut rng = Rng(args.seed ^ 0x5eed);
    let mut devs: Vec<DevState> = (0..n)
        .map(|_| DevState::Connecting {
            next: Instant::from_micros(500_000 + rng.next() % 2_000_000),
        })
        .collect();
    let interval_us = (args.interval * 1e6) as u64;
    let epoch = tokio::time::Instant::now();
    let stop_at = args
        .duration
        .map(|d| epoch + Duration::from_secs_f64(d.max(0.0)));
    let mut summary_at = epoch + Duration::from_secs(2);
    let mut out = Vec::new();
    let mut sent_pubs = 0u64;
    let mut received = 0u64;
    let mut devices_seen: HashSet<String> = HashSet::new();
    let mut per_topic: HashMap<&'static str, u64> = HashMap::new();
    let mut step = tokio::time::interval(Duration::from_millis(1));
    step.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = step.tick() => {}
            _ = &mut ctrl_c => break,
        }
        if stop_at.is_some_and(|s| tokio::time::Instant::now() >= s) {
            break;
        }
        let now = Instant::from_micros(epoch.elapsed().as_micros() as u64);
        world.deliver_due(now);
        for i in 0..n {
            if world.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                world.nodes[i].handle_timeout(now);
            }
            // Device behaviour.
            if i > 0 {
                let app = world.app;
                match &mut devs[i] {
                    DevState::Connecting { next } if *next <= now => {
                        let pkt = emit(&DeviceRepr::Connect {
                            keepalive: 30,
                            mac: mac(i),
                            name: None,
                        });
                        // One hop: broadcast, as the protocol says; further away: unicast to the
                        // gateway over the mesh (its id stands in for service discovery).
                        let _ = if world.hops[i] == 1 {
                            world.nodes[i].broadcast(now, app, &pkt)
                        } else {
                            world.nodes[i].send(now, app, node_id(0), &pkt)
                        };
                        *next = now + Duration::from_secs(3);
                    }
                    DevState::Connected { next, seq } if *next <= now => {
                        let (topic, payload) = reading(i, *seq, now.as_micros() as f64 / 1e6);
                        let pkt = emit(&DeviceRepr::Publish {
                            qos: Qos::AtLeastOnce,
                            retain: false,
                            packet_id: *seq as u16,
                            topic: &topic,
                            payload: &payload,
                        });
                        if world.nodes[i].send(now, app, node_id(0), &pkt).is_ok() {
                            sent_pubs += 1;
                            *seq += 1;
                        }
                        *next = now
                            + Duration::from_micros(
                                interval_us * 9 / 10 + rng.next() % (interval_us / 5 + 1),
                            );
                    }
                    _ => {}
                }
            }
            world.transmit(i, now);
            while let Some(ev) = world.nodes[i].poll_event() {
                if let Event::CounterReserve(r) = ev {
                    // A real node writes it to flash first; the demo keeps it in memory.
                    world.nodes[i].counter_persisted(r);
                    continue;
                }
                let Event::Delivered(d) = ev else { continue };
                let mut data = vec![0u8; d.len];
                if world.nodes[i].take_delivery(d.id, &mut data).is_none() {
                    continue;
                }
                if i == 0 {
                    let _ = gw.handle_device(std::time::Instant::now(), d.from.0, &data, &mut out);
                } else if let Ok(p) = DevicePacket::new_checked(&data[..])
                    && let Ok(DeviceRepr::ConnAck {
                        code: ReturnCode::Accepted,
                        ..
                    }) = DeviceRepr::parse(&p)
                    && matches!(devs[i], DevState::Connecting { .. })
                {
                    devs[i] = DevState::Connected {
                        next: now + Duration::from_millis(200 + rng.next() % 1000),
                        seq: 0,
                    };
                }
            }
        }
        gw.handle_timeout(std::time::Instant::now(), &mut out);
        for o in out.drain(..) {
            match o {
                Output::Mqtt(m) => {
                    bridge.publish(m).await;
                }
                Output::ToDevice { node, bytes } => {
                    let app = world.app;
                    let _ = world.nodes[0].send(now, app, NodeId(node), &bytes);
                }
            }
        }
        while let Ok((topic, payload)) = seen_rx.try_recv() {
            received += 1;
            let mut parts = topic.splitn(4, '/');
            let (_, _, id, suffix) = (
                parts.next(),
                parts.next(),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let kind = match suffix {
                "availability" => "availability",
                "status" => "status",
                _ => "sensor",
            };
            *per_topic.entry(kind).or_default() += 1;
            if kind == "sensor" || kind == "status" {
                devices_seen.insert(id.to_owned());
            }
            if !args.quiet {
                let text = String::from_utf8_lossy(&payload);
                let shown: String = text.chars().take(90).collect();
                let more = if text.chars().count() > 90 {
                    format!("… ({} bytes)", payload.len())
                } else {
                    String::new()
                };
                println!(
                    "[{:6.2}s] {topic}  {shown}{more}",
                    epoch.elapsed().as_secs_f64()
                );
            }
        }
        if tokio::time::Instant::now() >= summary_at {
            summary_at += Duration::from_secs(2);
            print_summary(
                &epoch,
                received,
                &devices_seen,
                n - 1,
                sent_pubs,
                &per_topic,
                &gw,
                &bridge,
            );
        }
    }
    print_summary(
        &epoch,
        received,
        &devices_seen,
        n - 1,
        sent_pubs,
        &per_topic,
        &gw,
        &bridge,
    );
    println!("done.");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn print_summary(
    epoch: &tokio::time::Instant,
    received: u64,
    devices: &HashSet<String>,
    sensors: usize,
    sent: u64,
    per_topic: &HashMap<&'static str, u64>,
    gw: &Gateway,
    bridge: &Bridge,
) {
    let s = gw.stats();
    let b = bridge.stats();
    println!(
        "── {:5.1}s │ MQTT received {received} ({} readings, {} status reports, {} availability) │ devices heard {}/{sensors} │ connected {} │ published by devices {sent}, by gateway {} │ spooled {} dropped {}",
        epoch.elapsed().as_secs_f64(),
        per_topic.get("sensor").copied().unwrap_or(0),
        per_topic.get("status").copied().unwrap_or(0),
        per_topic.get("availability").copied().unwrap_or(0),
        devices.len(),
        s.connects,
        s.publishes,
        b.spooled.load(std::sync::atomic::Ordering::Relaxed),
        b.dropped.load(std::sync::atomic::Ordering::Relaxed),
    );
}
