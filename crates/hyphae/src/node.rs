//! `hyphae node`: run a host node from a TOML configuration.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use hyphae_host::metrics::Metrics;
use hyphae_host::runner::hex;

/// Arguments of `hyphae node`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The node's TOML configuration (see docs/spec/app-api.md for the `[api]` section).
    #[arg(long, short)]
    pub(crate) config: PathBuf,
    /// Override the API address from the configuration (`tcp:127.0.0.1:7400`, `unix:/path`).
    #[arg(long)]
    pub(crate) api: Option<String>,
}

/// Start logging once (RUST_LOG, default `info`).
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Load the configuration, start the node, its API and metrics; print one line saying where.
pub(crate) async fn start(
    config: &hyphae_host::Config,
    api_override: Option<&str>,
) -> anyhow::Result<hyphae_host::Host> {
    let metrics = Arc::new(Metrics::default());
    let registry = Arc::new(metrics.register());
    let mut host = hyphae_host::start(config, metrics).await?;
    let listen = api_override.unwrap_or(&config.api.listen);
    if !listen.is_empty() {
        host.api = Some(
            hyphae_host::api::serve(listen, host.handle.clone())
                .await
                .with_context(|| format!("api.listen: cannot listen on {listen}"))?,
        );
    }
    if let Some(addr) = config.metrics.listen {
        host.metrics = Some(
            hyphae_host::metrics::serve(addr, registry)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?,
        );
    }
    Ok(host)
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    init_tracing();
    let config = hyphae_host::Config::load(&args.config)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let host = start(&config, args.api.as_deref()).await?;
        let links: Vec<String> = host.links.iter().map(ToString::to_string).collect();
        println!(
            "node {} up: udp {} api {} metrics {}",
            hex(&host.id),
            links.join(","),
            host.api.as_deref().unwrap_or("off"),
            host.metrics
                .map_or("off".to_owned(), |m| format!("http://{m}/metrics")),
        );
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            r = host.task => r.map_err(|e| anyhow::anyhow!("node loop ended: {e}")),
        }
    })
}
