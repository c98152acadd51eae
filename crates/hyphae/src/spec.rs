//! `hyphae spec`: tables computed from `hyphae-wire`'s layout constants.

use clap::Subcommand;
use hyphae_link::LinkKind;
use hyphae_wire::sizes::{Layout, max_payload};

/// Arguments of `hyphae spec`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Application bytes that fit one frame, per link, layout and security.
    Sizes {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// One row of the sizes table.
struct Row {
    link: LinkKind,
    kind: &'static str,
    depth: usize,
    secure: bool,
    payload: usize,
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for link in LinkKind::ALL {
        for secure in [false, true] {
            let mut push = |kind, depth, layout| {
                rows.push(Row {
                    link,
                    kind,
                    depth,
                    secure,
                    payload: max_payload(link.mtu(), layout, secure),
                });
            };
            push("single", 0, Layout::Single);
            push("fragment", 0, Layout::Fragment);
            for depth in [4, 8, 12] {
                push("routed", depth, Layout::Routed { depth });
            }
        }
    }
    rows
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let What::Sizes { json } = args.what;
    let rows = rows();
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "link": r.link.name(),
                    "mtu": r.link.mtu(),
                    "kind": r.kind,
                    "depth": r.depth,
                    "secure": r.secure,
                    "payload": r.payload,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<14} {:>5}  {:<9} {:>5}  {:>8}  {:>7}  {:>8}",
        "link", "mtu", "kind", "depth", "secure", "payload", "overhead"
    );
    for r in &rows {
        println!(
            "{:<14} {:>5}  {:<9} {:>5}  {:>8}  {:>7}  {:>8}",
            r.link.name(),
            r.link.mtu(),
            r.kind,
            r.depth,
            r.secure,
            r.payload,
            r.link.mtu() - r.payload
        );
    }
    Ok(())
}
