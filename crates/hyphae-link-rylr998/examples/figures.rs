//! Prints the RYLR-998 figures of docs/BENCHMARKS.md: usable payload per datagram after the
//! encoding, airtime of a full frame at SF7 and SF9, and frames per hour at 1 % duty cycle.
#![allow(missing_docs)]

use hyphae_link_rylr998::encoding::{MAX_DATAGRAM, MAX_FRAME, encoded_len};
use hyphae_link_rylr998::{DutyCycle, Modem};
use hyphae_wire::sizes::{Layout, max_payload};

fn main() {
    println!("frame MTU after encoding (worst case): {MAX_FRAME} of {MAX_DATAGRAM} bytes");
    let random: Vec<u8> = (0..MAX_FRAME as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    println!(
        "encoded length of a 236-byte pseudo-random frame: {}",
        encoded_len(&random)
    );
    for (name, layout, depth) in [
        ("single", Layout::Single, 0),
        ("routed depth 8", Layout::Routed, 8),
    ] {
        println!(
            "application payload, {name}: {} insecure, {} secure",
            max_payload(MAX_FRAME, layout, depth, false),
            max_payload(MAX_FRAME, layout, depth, true)
        );
    }
    let duty = DutyCycle::new(10_000);
    for sf in [7u8, 9] {
        for preamble in [8u8, 12] {
            let m = Modem {
                sf,
                preamble,
                ..Modem::default()
            };
            let t240 = m.time_on_air(240);
            let full = m.send_airtime(MAX_DATAGRAM);
            println!(
                "SF{sf}/125 kHz/CR4/5 preamble {preamble}: 240 B on air {:.1} ms; full send (248 B on air) {:.1} ms; {} full sends/h at 1 %",
                t240.as_secs_f64() * 1e3,
                full.as_secs_f64() * 1e3,
                duty.frames_per_hour(full)
            );
        }
    }
}
