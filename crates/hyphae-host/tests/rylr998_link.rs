//! A `hyphae node` configured with `type = "rylr998"` drives a module on a real pseudo-terminal:
//! it configures the module and beacons through `AT+SEND`, and frames the module reports with
//! `+RCV` reach the node.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use hyphae_host::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn node_runs_on_an_rylr998_module() {
    let pty = nix::pty::openpty(None, None).unwrap();
    let path = nix::unistd::ttyname(&pty.slave).unwrap();
    let mut t = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
    nix::sys::termios::cfmakeraw(&mut t);
    nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
    let master = std::fs::File::from(pty.master);
    let mut reader = tokio::fs::File::from_std(master.try_clone().unwrap());
    let mut writer = tokio::fs::File::from_std(master);
    // A minimal module: answers +OK to every command and records them.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        loop {
            let n = match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = buf.drain(..i + 2).take(i).collect();
                let _ = lines_tx.send(String::from_utf8_lossy(&line).into_owned());
                writer.write_all(b"+OK\r\n").await.unwrap();
            }
        }
    });
    let config = Config::parse(&format!(
        "[node]\nid = \"0102030405060708\"\nbeacon_ms = 200\n\n[[links]]\ntype = \"rylr998\"\ndevice = \"{}\"\naddress = 5\nspreading_factor = 7\nbandwidth_hz = 500000\nduty_cycle_percent = 100.0\n[security]\ninsecure = true\n",
        path.display()
    ))
    .unwrap();
    let host = hyphae_host::start(&config, Arc::new(Default::default()))
        .await
        .expect("node starts on the module");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.iter().any(|l: &String| l.starts_with("AT+SEND=0,")) {
        let l = tokio::time::timeout_at(deadline, lines.recv())
            .await
            .expect("the node beacons through AT+SEND")
            .unwrap();
        seen.push(l);
    }
    assert!(seen.iter().any(|l| l == "AT+ADDRESS=5"), "{seen:?}");
    assert!(
        seen.iter().any(|l| l == "AT+PARAMETER=7,9,1,12"),
        "{seen:?}"
    );
    drop(host);
    drop(pty.slave);
}

#[test]
fn bad_rylr998_fields_are_named() {
    let e = Config::parse(
        "[[links]]\ntype = \"rylr998\"\ndevice = \"/dev/x\"\nspreading_factor = 12\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("links[0].spreading_factor"), "{e}");
    let e = Config::parse("[[links]]\ntype = \"rylr998\"\n").unwrap_err();
    assert!(e.to_string().contains("links[0]"), "{e}");
}
