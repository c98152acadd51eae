//! `hyphae bridge` against a minimal bridge emulator on a real pseudo-terminal (the full
//! emulator and the link's own tests are in `crates/hyphae-link-bridge/tests/pty.rs`).

use std::io::{Read, Write};
use std::process::Command;

use hyphae_link_bridge::record::{self, Record, Status};
use hyphae_link_bridge::{Decoder, MAX_ENCODED};

const MAC: [u8; 6] = [0x34, 0x85, 0x18, 0x01, 0x02, 0x03];

/// Answers HELLO, CONFIG and TX like the firmware; logs the TX payloads it got.
fn emulate(mut master: std::fs::File, sent: std::sync::mpsc::Sender<Vec<u8>>) {
    let mut dec = Decoder::new();
    let mut buf = [0u8; 512];
    let mut channel = 1;
    loop {
        let Ok(n) = master.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        for &b in &buf[..n] {
            let Some(Ok(rec)) = dec.push(b) else { continue };
            let reply = match rec {
                Record::Hello { seq } => Record::Status(Status {
                    seq,
                    version: record::PROTOCOL_VERSION,
                    channel,
                    mac: MAC,
                    max_payload: 250,
                    rx_frames: 7,
                    ..Status::default()
                }),
                Record::Config { seq, channel: c } => {
                    channel = c;
                    Record::Ack { seq, error: None }
                }
                Record::Tx { seq, payload, .. } => {
                    let _ = sent.send(payload.to_vec());
                    Record::Ack { seq, error: None }
                }
                _ => continue,
            };
            let mut out = [0u8; MAX_ENCODED];
            let n = reply.encode(&mut out).expect("encode");
            if master.write_all(&out[..n]).is_err() {
                return;
            }
        }
    }
}

fn hyphae(args: &[&str]) -> (bool, String, Vec<Vec<u8>>) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let (tx, rx) = std::sync::mpsc::channel();
    let master = std::fs::File::from(pty.master);
    std::thread::spawn(move || emulate(master, tx));
    let out = Command::new(env!("CARGO_BIN_EXE_hyphae"))
        .args([
            "bridge",
            "--port",
            path.to_str().expect("utf-8 path"),
            "--channel",
            "6",
        ])
        .args(args)
        .output()
        .expect("run hyphae");
    // The slave stays open until here so the emulator never sees a hang-up mid-test.
    drop(pty.slave);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        rx.try_iter().collect(),
    )
}

#[test]
fn status_prints_the_bridge_state() {
    let (ok, stdout, _) = hyphae(&["status"]);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("bridge 34:85:18:01:02:03"), "{stdout}");
    assert!(stdout.contains("channel 6"), "{stdout}");
    assert!(stdout.contains("rx 7"), "{stdout}");
}

#[test]
fn send_puts_the_frame_on_the_air() {
    let (ok, stdout, sent) = hyphae(&["send", "de:ad:be:ef"]);
    assert!(ok, "{stdout}");
    assert_eq!(sent, vec![vec![0xde, 0xad, 0xbe, 0xef]]);
}
