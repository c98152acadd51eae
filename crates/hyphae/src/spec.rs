//! `hyphae spec`: tables computed from `hyphae-wire`'s layout constants.

use std::io::{self, Write};

use clap::Subcommand;
use hyphae_link::LinkKind;
use hyphae_wire::sizes::{Layout, max_payload};
use hyphae_wire::{DevicePacket, DeviceRepr, Frame, FrameRepr};
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
    /// Decode one frame (or, with --device, one device–gateway packet) given in hex.
    Decode {
        /// The bytes in hex; spaces, `|` and `:` separators are ignored.
        #[arg(required = true)]
        hex: Vec<String>,
        /// Decode as a device–gateway packet (`docs/spec/device.md`) instead of a frame.
        #[arg(long)]
        device: bool,
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

/// Bytes from hex text, ignoring separators.
fn parse_hex(parts: &[String]) -> anyhow::Result<Vec<u8>> {
    let digits: String = parts
        .concat()
        .chars()
        .filter(|c| !matches!(c, ' ' | '|' | ':' | ',' | '\n' | '\t'))
        .collect();
    anyhow::ensure!(digits.len().is_multiple_of(2), "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| anyhow::anyhow!("not hex: {:?}", &digits[i..i + 2]))
        })
        .collect()
}

/// A one-line description of `bytes`, or why they are not a valid frame / packet.
fn decode(bytes: &[u8], device: bool) -> String {
    if device {
        return match DeviceRepr::parse(&DevicePacket::new_unchecked(bytes)) {
            Ok(p) => format!("{p}"),
            Err(e) => format!("invalid device packet: {e}"),
        };
    }
    match FrameRepr::parse(bytes) {
        Ok(f) => format!("{f}"),
        Err(e) => match Frame::parse(bytes) {
            // Headers are fine; the body is not plaintext of its kind (e.g. sealed).
            Ok(split) => format!(
                "{} {}body {} B at offset {}{}: {e}",
                split.header,
                split.routing.map(|r| format!("[{r}] ")).unwrap_or_default(),
                split.body.len(),
                split.body_offset,
                split
                    .security
                    .map(|s| format!(", sealed ({s})"))
                    .unwrap_or_default(),
            ),
            Err(e) => format!("invalid frame: {e}"),
        },
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let out = match &args.what {
        What::Sizes { json } => render(*json)?,
        What::Decode { hex, device } => decode(&parse_hex(hex)?, *device) + "\n",
    };
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
    fn decodes_the_spec_examples() {
        let hex = |s: &str| parse_hex(&[s.to_owned()]).unwrap();
        let routed =
            hex("61 08 | 07 01 02 01 | 04 30 F0 51 | 40 01 02 03 04 | 07 00 34 12 | 68 69");
        assert_eq!(
            decode(&routed, false),
            "Single routed [ack-req] [~01020304 -> /3.0.20.1 tree 1 epoch 258 hops 7] single #7 app 1234 2 B"
        );
        let publish = hex("31 0B 05 00 04 74 65 6D 70 32 31 2E 35");
        assert_eq!(decode(&publish, true), "PUBLISH temp 4 B");
        assert_eq!(decode(&[0x41], false), "invalid frame: frame truncated");
        assert!(parse_hex(&["6".into()]).is_err());
    }

    #[test]
    fn table_has_a_row_per_link_layout_and_security() {
        let t = render(false).unwrap();
        assert_eq!(t.lines().count(), 1 + 5 * 2 * 5);
        assert!(t.contains("espnow-v1        250  routed        8   false      222"));
    }
}
