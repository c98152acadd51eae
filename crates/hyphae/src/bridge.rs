//! `hyphae bridge`: talk to an ESP32 running hyphae's radio-bridge firmware
//! (`firmware/esp32c3/bridge`, framing in `docs/spec/bridge.md`) — check it answers, listen to
//! the ESP-NOW traffic it hears, send a frame.

use std::time::Duration;

use anyhow::{Context, bail};
use hyphae_link::LinkAddr;
use hyphae_link_bridge::host::{BridgeConfig, BridgeEvent, BridgeLink};

/// Arguments of `hyphae bridge`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Serial device of the bridge.
    #[arg(long, default_value = "/dev/ttyACM0")]
    port: String,
    /// ESP-NOW channel (1..=13).
    #[arg(long, default_value_t = 1)]
    channel: u8,
    /// Baud rate (UART bridges only).
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Handshake and print the bridge's state and counters.
    Status,
    /// Print every frame the bridge hears, with its sender and RSSI.
    Listen {
        /// Stop after this many seconds (default: run until interrupted).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Send one frame given in hex.
    Send {
        /// Destination MAC (`aa:bb:cc:dd:ee:ff`); broadcast when absent.
        #[arg(long)]
        to: Option<String>,
        /// The payload in hex (1..=250 bytes).
        hex: String,
    },
}

fn parse_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    let digits = s
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '-'))
        .map(|c| c.to_digit(16).context("not a hex digit"))
        .collect::<anyhow::Result<Vec<u32>>>()?;
    if !digits.len().is_multiple_of(2) {
        bail!("odd number of hex digits");
    }
    // Each pair of digits is below 256.
    Ok(digits.chunks(2).map(|p| (p[0] * 16 + p[1]) as u8).collect())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Run `hyphae bridge`.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let config = BridgeConfig {
        channel: args.channel,
        baud: args.baud,
        ..BridgeConfig::new(args.port.clone())
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut link = BridgeLink::open(&config)
            .await
            .with_context(|| format!("opening the bridge on {}", args.port))?;
        match &args.what {
            What::Status => {
                let s = link.handle().status().await?;
                println!(
                    "bridge {} protocol {} channel {} peers {} max payload {} rx {} tx {} dropped {}",
                    link.local_addr(),
                    s.version,
                    s.channel,
                    s.peers,
                    s.max_payload,
                    s.rx_frames,
                    s.tx_frames,
                    s.dropped
                );
            }
            What::Listen { seconds } => {
                let listen = async {
                    while let Some(ev) = link.recv().await {
                        match ev {
                            BridgeEvent::Frame(f) => println!(
                                "{} {:>4} dBm {} {}",
                                f.from,
                                f.meta.rssi.unwrap_or(0),
                                if f.broadcast { "bcast" } else { "ucast" },
                                hex(&f.data)
                            ),
                            BridgeEvent::Reset(_) => println!("bridge reset (channel re-applied)"),
                            BridgeEvent::Error(code) => println!("bridge error: {code}"),
                        }
                    }
                };
                match seconds {
                    Some(s) => {
                        let _ = tokio::time::timeout(Duration::from_secs(*s), listen).await;
                    }
                    None => listen.await,
                }
            }
            What::Send { to, hex: payload } => {
                let dst = match to {
                    Some(mac) => LinkAddr::new(&parse_hex(mac)?)?,
                    None => LinkAddr::BROADCAST,
                };
                link.send(&dst, &parse_hex(payload)?).await?;
                println!("sent");
            }
        }
        Ok(())
    })
}
