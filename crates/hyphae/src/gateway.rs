//! `hyphae gateway`: a host node that also runs the MQTT bridge for the device–gateway protocol.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use hyphae_host::runner::{AppEvent, HostHandle, hex};
use hyphae_mqtt::{Bridge, BridgeConfig, Gateway, GatewayConfig, Output, PayloadFormat};
use tokio::sync::mpsc;

/// Arguments of `hyphae gateway`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The node's TOML configuration.
    #[arg(long, short)]
    pub(crate) config: PathBuf,
    /// Broker URL (`mqtt://host:port`). Without it an embedded broker starts on 127.0.0.1.
    #[arg(long)]
    pub(crate) mqtt: Option<String>,
    /// Port of the embedded broker.
    #[arg(long, default_value_t = 1883)]
    pub(crate) broker_port: u16,
    /// Topic prefix (topics are `<prefix>/device/<id>/<suffix>`).
    #[arg(long, default_value = "")]
    pub(crate) prefix: String,
    /// Payload format: raw or json.
    #[arg(long, default_value = "raw", value_parser = ["raw", "json"])]
    pub(crate) format: String,
    /// Publish Home Assistant discovery documents under this prefix (e.g. homeassistant).
    #[arg(long)]
    pub(crate) ha_discovery: Option<String>,
    /// Spool directory for messages while the broker is unreachable.
    #[arg(long)]
    pub(crate) spool: Option<PathBuf>,
    /// Most messages in the spool (more are counted as dropped).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) spool_max: usize,
}

/// Resolve the broker: the given URL, or an embedded rumqttd (announced on stdout).
pub(crate) fn broker_url(mqtt: Option<&str>, port: u16) -> anyhow::Result<String> {
    if let Some(u) = mqtt {
        return Ok(u.to_owned());
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    hyphae_mqtt::broker::start_embedded(addr).with_context(|| {
        format!("cannot start the embedded MQTT broker on {addr} (use --mqtt URL or --broker-port)")
    })?;
    println!("no --mqtt given: started the embedded MQTT broker (rumqttd) on mqtt://{addr}");
    Ok(format!("mqtt://{addr}"))
}

pub(crate) fn gateway_config(args: &Args, id: &[u8; 8]) -> GatewayConfig {
    GatewayConfig {
        prefix: args.prefix.clone(),
        format: if args.format == "json" {
            PayloadFormat::Json
        } else {
            PayloadFormat::Raw
        },
        ha_discovery: args.ha_discovery.clone(),
        gateway_id: hex(id),
        ..GatewayConfig::default()
    }
}

/// Run the gateway application against a host node until the node stops.
pub(crate) async fn serve(
    handle: HostHandle,
    mut gw: Gateway,
    bridge_config: BridgeConfig,
) -> anyhow::Result<()> {
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let app = handle
        .register(hyphae_wire::device::APP_NAME, ev_tx.clone())
        .await
        .map_err(|e| anyhow::anyhow!("register {}: {e}", hyphae_wire::device::APP_NAME))?;
    let (in_tx, mut in_rx) = mpsc::channel(256);
    let (bridge, _task) = Bridge::spawn(bridge_config, in_tx)?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut out = Vec::new();
    loop {
        tokio::select! {
            e = ev_rx.recv() => match e {
                Some(AppEvent::Delivered { from, data, .. }) => {
                    if let Err(e) = gw.handle_device(std::time::Instant::now(), from, &data, &mut out) {
                        tracing::warn!(node = %hex(&from), error = %e, "device packet refused");
                    }
                }
                Some(AppEvent::SendFailed { send, reason }) => tracing::warn!(send, %reason, "reply to device failed"),
                Some(AppEvent::SendDone { .. }) => {}
                None => return Ok(()),
            },
            m = in_rx.recv() => {
                if let Some((topic, payload)) = m
                    && let Some(o) = gw.handle_downlink(&topic, &payload)
                {
                    out.push(o);
                }
            }
            _ = tick.tick() => gw.handle_timeout(std::time::Instant::now(), &mut out),
        }
        for o in out.drain(..) {
            match o {
                Output::Mqtt(m) => {
                    bridge.publish(m).await;
                }
                Output::ToDevice { node, bytes } => {
                    if let Err(e) = handle.send(app, Some(node), bytes, ev_tx.clone()).await {
                        tracing::warn!(node = %hex(&node), error = %e, "cannot reach device");
                    }
                }
            }
        }
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    crate::node::init_tracing();
    let config = hyphae_host::Config::load(&args.config)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let url = broker_url(args.mqtt.as_deref(), args.broker_port)?;
        let host = crate::node::start(&config, None).await?;
        let gw = Gateway::new(gateway_config(args, &host.id));
        println!(
            "gateway {} up: udp {} mqtt {url} topics {}/device/<id>/<suffix>",
            hex(&host.id),
            host.links
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            args.prefix.trim_end_matches('/'),
        );
        let bridge = BridgeConfig {
            url,
            client_id: format!("hyphae-gw-{}", hex(&host.id)),
            status_topic: Some(gw.status_topic()),
            subscribe: vec![gw.topics().downlink_filter()],
            spool_dir: args.spool.clone(),
            spool_max_messages: args.spool_max,
            ..BridgeConfig::default()
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            r = serve(host.handle.clone(), gw, bridge) => r,
        }
    })
}
