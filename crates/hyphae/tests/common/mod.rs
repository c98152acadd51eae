//! Helpers shared by the process-level tests: a child process killed on drop, free ports.

#![allow(dead_code, clippy::unwrap_used)]

use std::process::Child;

/// A child process, killed and reaped when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A UDP port free right now on loopback.
pub(crate) fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP port free right now on loopback.
pub(crate) fn free_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start `hyphae <subcommand…> --config <path>` and wait for its ` up: ` line.
pub(crate) fn start_hyphae(args: &[&str], path: &std::path::Path) -> Proc {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hyphae"))
        .args(args)
        .arg("--config")
        .arg(path)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains(" up: "), "{args:?} did not start: {line}");
    Proc(child)
}
