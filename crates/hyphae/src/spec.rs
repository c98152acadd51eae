//! `hyphae spec`: tables computed from `hyphae-wire`'s layout constants.

use std::io::{self, Write};

use clap::Subcommand;
use hyphae_link::LinkKind;
use hyphae_wire::sizes::{Layout, max_payload};
use serde::Serialize;

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

/// Tree depths the routed rows are computed for.
const ROUTED_DEPTHS: [usize; 3] = [4, 8, 12];

/// One row of the sizes table, in the field order of the JSON output.
#[derive(Debug, Serialize)]
struct Row {
    link: &'static str,
    mtu: usize,
    kind: &'static str,
    depth: usize,
    secure: bool,
    payload: usize,
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for link in LinkKind::ALL {
        for secure in [false, true] {
            let mut push = |layout: Layout, depth| {
                rows.push(Row {
                    link: link.name(),
                    mtu: link.mtu(),
                    kind: layout.name(),
                    depth,
                    secure,
                    payload: max_payload(link.mtu(), layout, depth, secure),
                });
            };
            push(Layout::Single, 0);
            push(Layout::Fragment, 0);
            for depth in ROUTED_DEPTHS {
                push(Layout::Routed, depth);
            }
        }
    }
    rows
}

fn render(json: bool) -> anyhow::Result<String> {
    let rows = rows();
    if json {
        return Ok(serde_json::to_string_pretty(&rows)? + "\n");
    }
    let mut out = format!(
        "{:<14} {:>5}  {:<9} {:>5}  {:>6}  {:>7}  {:>8}\n",
        "link", "mtu", "kind", "depth", "secure", "payload", "overhead"
    );
    for r in &rows {
        out += &format!(
            "{:<14} {:>5}  {:<9} {:>5}  {:>6}  {:>7}  {:>8}\n",
            r.link,
            r.mtu,
            r.kind,
            r.depth,
            r.secure,
            r.payload,
            r.mtu - r.payload
        );
    }
    Ok(out)
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let What::Sizes { json } = args.what;
    let out = render(json)?;
    match io::stdout().lock().write_all(out.as_bytes()) {
        // `hyphae spec sizes | head` is fine.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_a_row_per_link_layout_and_security() {
        let t = render(false).unwrap();
        assert_eq!(t.lines().count(), 1 + 5 * 2 * 5);
        assert!(t.contains("espnow-v1        250  routed        8   false      231"));
    }
}
