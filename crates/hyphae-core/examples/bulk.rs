//! Bulk transfer figures for docs/BENCHMARKS.md (issue 3): 64 KiB over one hop and over a 5-hop
//! chain of ESP-NOW v1 frames at 1 Mbit/s airtime (RADIOS.md §1.3), at 0, 10 and 30 % frame loss,
//! windowed sequencer against a stop-and-wait baseline from the same run.
//!
//! `cargo run --release -p hyphae-core --example bulk`

#[path = "../tests/common/harness.rs"]
mod harness;

use core::time::Duration;

use harness::{Channel, World, espnow_cycle, node_id};
use hyphae_core::Config;

const BLOB: usize = 64 * 1024;
const SEEDS: u64 = 5;

/// Loss-free limit: the payload carried back-to-back in full 250-byte unicast frames (hyphae's
/// frame and Package headers included, no acknowledgements, no retransmissions, no idle time).
fn limit_bps() -> f64 {
    let frag = 250 - 2 - 6; // FragmentLarge data per frame
    let frames = (BLOB + 10).div_ceil(frag);
    let t = espnow_cycle(250, true).as_secs_f64() * frames as f64;
    BLOB as f64 * 8.0 / t
}

/// Goodput in bit/s of one 64 KiB transfer, or None if it failed.
fn run(hops: usize, loss: f64, config: Config, seed: u64, tx_status: bool) -> Option<(f64, u64)> {
    let mut w = if hops == 1 {
        World::full_mesh(2, config, Channel::lossy(loss), seed)
    } else {
        World::chain(hops + 1, config, Channel::lossy(loss), seed)
    };
    let app = w.register_all("bulk");
    w.settle();
    w.trace = std::env::var_os("BULK_TRACE").is_some();
    w.tx_status = tx_status;
    let data: Vec<u8> = (0..BLOB).map(|i| (i * 7 + 3) as u8).collect();
    let dest = hops;
    let start = w.now;
    let id = w.nodes[0].send(start, app, node_id(dest), &data).ok()?;
    w.watch = Some(id);
    let deadline = start + Duration::from_secs(600);
    w.run_until(deadline, |w| w.outcome(0, id).is_some());
    if let Err(e) = w.outcome(0, id)? {
        eprintln!(
            "hops {hops} loss {loss} seed {seed} window {}: failed {e}",
            config.window
        );
        return None;
    }
    if std::env::var_os("BULK_DEBUG").is_some() {
        eprintln!(
            "hops {hops} loss {loss} seed {seed}: src {:?}",
            w.nodes[0].counters()
        );
        eprintln!("  dst {:?}", w.nodes[dest].counters());
        for k in 1..dest {
            let c = w.nodes[k].counters();
            eprintln!("  fwd {k}: forwarded {} drops {:?}", c.forwarded, c.drops);
        }
    }
    let d = w.deliveries(dest).next()?;
    assert_eq!(d.payload.as_deref(), Some(&data[..]));
    let secs = d.at.saturating_since(start).as_secs_f64();
    Some((
        BLOB as f64 * 8.0 / secs,
        w.nodes[0].counters().retransmissions,
    ))
}

fn main() {
    if let Some(spec) = std::env::var_os("BULK_ONE") {
        // `BULK_ONE=hops,loss,seed[,window]`: one run (with BULK_TRACE / BULK_DEBUG).
        let spec = spec.into_string().unwrap_or_default();
        let v: Vec<f64> = spec.split(',').filter_map(|x| x.parse().ok()).collect();
        let window = v.get(3).copied().unwrap_or(32.0) as u16;
        let cfg = Config {
            window,
            ack_every: if window == 1 { 1 } else { 8 },
            ..Config::default()
        };
        let r = run(
            v[0] as usize,
            v[1],
            cfg,
            v[2] as u64,
            v.get(4).is_some_and(|x| *x > 0.0),
        );
        println!("{r:?}");
        return;
    }
    let limit = limit_bps();
    println!(
        "loss-free limit: {:.1} kbit/s (ESP-NOW v1, 1 Mbit/s, 250-byte unicast frames)",
        limit / 1e3
    );
    let env = |k: &str, d: u16| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let windowed = Config {
        window: env("BULK_WINDOW", Config::default().window),
        ack_every: env("BULK_ACK_EVERY", Config::default().ack_every),
        ..Config::default()
    };
    let stop_and_wait = Config {
        window: 1,
        ack_every: 1,
        ..Config::default()
    };
    for (tx_status, title) in [
        (false, "End-to-end only (the link reports nothing)"),
        (
            true,
            "With the link's per-frame outcome (ESP-NOW send callback), link_retries = 3",
        ),
    ] {
        println!();
        println!("{title}:");
        println!();
        table(limit, windowed, stop_and_wait, tx_status);
    }
}

fn table(limit: f64, windowed: Config, stop_and_wait: Config, tx_status: bool) {
    println!(
        "| hops | loss | windowed goodput | ratio | stop-and-wait goodput | ratio | e2e ratio (windowed) | rtx/seed |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for hops in [1usize, 5] {
        for loss in [0.0, 0.1, 0.3] {
            let mut sums = [0.0f64; 2];
            let mut ok = [0u64; 2];
            let mut rtx = 0;
            for (k, cfg) in [windowed, stop_and_wait].into_iter().enumerate() {
                for seed in 0..SEEDS {
                    if let Some((g, r)) = run(hops, loss, cfg, 100 + seed, tx_status) {
                        sums[k] += g;
                        ok[k] += 1;
                        if k == 0 {
                            rtx += r;
                        }
                    }
                }
            }
            let g = [sums[0] / ok[0].max(1) as f64, sums[1] / ok[1].max(1) as f64];
            let norm = limit * (1.0 - loss);
            let e2e = limit * (1.0 - loss).powi(hops as i32);
            println!(
                "| {hops} | {:.0} % | {:.1} kbit/s ({}/{SEEDS}) | {:.2} | {:.1} kbit/s ({}/{SEEDS}) | {:.2} | {:.2} | {} |",
                loss * 100.0,
                g[0] / 1e3,
                ok[0],
                g[0] / norm,
                g[1] / 1e3,
                ok[1],
                g[1] / norm,
                g[0] / e2e,
                rtx / SEEDS,
            );
        }
    }
}
