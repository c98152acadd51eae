//! Several `hyphae node` processes over UDP on loopback: a 4-node line (3 hops) delivers a
//! 100 KiB blob end to end through the local application API, survives malformed datagrams,
//! and measures small-message latency; invalid configuration fails with the field named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use hyphae_host::api::{Client, event_data};

use common::{Proc, free_tcp, free_udp, start_hyphae};

const BIN: &str = env!("CARGO_BIN_EXE_hyphae");

fn id(i: usize) -> String {
    format!("00000000000000{:02x}", i + 1)
}

fn start_line(n: usize, dir: &std::path::Path) -> (Vec<Proc>, Vec<u16>, Vec<u16>, u16) {
    let udp: Vec<u16> = (0..n).map(|_| free_udp()).collect();
    let api: Vec<u16> = (0..n).map(|_| free_tcp()).collect();
    let metrics = free_tcp();
    let mut procs = Vec::new();
    for i in 0..n {
        let mut peers = Vec::new();
        if i > 0 {
            peers.push(format!("\"127.0.0.1:{}\"", udp[i - 1]));
        }
        if i + 1 < n {
            peers.push(format!("\"127.0.0.1:{}\"", udp[i + 1]));
        }
        let mut routes = String::new();
        for d in 0..n {
            if d + 1 < i {
                routes += &format!(
                    "[[routes]]\ndest = \"{}\"\nvia = \"{}\"\n",
                    id(d),
                    id(i - 1)
                );
            } else if d > i + 1 {
                routes += &format!(
                    "[[routes]]\ndest = \"{}\"\nvia = \"{}\"\n",
                    id(d),
                    id(i + 1)
                );
            }
        }
        let metrics_line = if i == 1 {
            format!("[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n")
        } else {
            String::new()
        };
        let conf = format!(
            "apps = [\"blob\"]\n{routes}[node]\nid = \"{}\"\nbeacon_ms = 200\n[[links]]\ntype = \"udp\"\nbind = \"127.0.0.1:{}\"\npeers = [{}]\ndiscovery = \"none\"\n[api]\nlisten = \"tcp:127.0.0.1:{}\"\n[security]\ninsecure = true\n{metrics_line}",
            id(i),
            udp[i],
            peers.join(", "),
            api[i]
        );
        let path = dir.join(format!("node{i}.toml"));
        std::fs::write(&path, conf).unwrap();
        procs.push(start_hyphae(&["node"], &path));
    }
    (procs, udp, api, metrics)
}

async fn wait_for_peers(c: &mut Client, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = c.call(serde_json::json!({"op": "info"})).await.unwrap();
        if v["peers"].as_array().map_or(0, Vec::len) >= want {
            return;
        }
        assert!(Instant::now() < deadline, "peers never came up: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deliver(a: &mut Client, d: &mut Client, to: &[u8; 8], data: &[u8]) -> Duration {
    let t0 = Instant::now();
    a.send("blob", to, data).await.unwrap();
    loop {
        let v = tokio::time::timeout(Duration::from_secs(30), d.next_event())
            .await
            .expect("delivery in time")
            .unwrap();
        if v["event"] == "delivered" {
            assert_eq!(event_data(&v).unwrap(), data);
            assert_eq!(v["from"], id(0));
            return t0.elapsed();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_deliver_100_kib_over_three_udp_hops() {
    let dir = tempfile::tempdir().unwrap();
    let (_procs, udp, api, metrics) = start_line(4, dir.path());
    let mut a = Client::connect(&format!("127.0.0.1:{}", api[0]))
        .await
        .unwrap();
    let mut b = Client::connect(&format!("127.0.0.1:{}", api[1]))
        .await
        .unwrap();
    let mut c = Client::connect(&format!("127.0.0.1:{}", api[2]))
        .await
        .unwrap();
    let mut d = Client::connect(&format!("127.0.0.1:{}", api[3]))
        .await
        .unwrap();
    a.register("blob").await.unwrap();
    d.register("blob").await.unwrap();
    wait_for_peers(&mut a, 1).await;
    wait_for_peers(&mut b, 2).await;
    wait_for_peers(&mut c, 2).await;
    wait_for_peers(&mut d, 1).await;

    // Garbage at the relay: empty, random, truncated-looking and oversize datagrams.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x: u32 = 12345;
    for len in [0usize, 1, 3, 17, 64, 300, 1232, 2000, 9000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        junk.send_to(&bytes, ("127.0.0.1", udp[1])).unwrap();
    }

    let to: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 4];
    let blob: Vec<u8> = (0..100 * 1024u32)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    let took = deliver(&mut a, &mut d, &to, &blob).await;
    eprintln!("100 KiB over 3 UDP hops in {took:?}");
    loop {
        let v = a.next_event().await.unwrap();
        if v["event"] == "send_done" {
            break;
        }
        assert_ne!(v["event"], "send_failed", "{v}");
    }

    // Latency of small messages across the 3 hops.
    let mut lat = Vec::new();
    for i in 0..200u32 {
        lat.push(deliver(&mut a, &mut d, &to, &i.to_le_bytes()).await);
    }
    lat.sort();
    eprintln!(
        "3-hop UDP latency over {} messages: p50 {:?} p99 {:?}",
        lat.len(),
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );

    // The relay counted the garbage and still serves metrics (refreshed every 200 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body = scrape(metrics);
        assert!(body.contains("hyphae_frames_in_total"), "{body}");
        let drops: f64 = body
            .lines()
            .filter(|l| l.starts_with("hyphae_drops_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        let oversize: f64 = body
            .lines()
            .find(|l| l.starts_with("hyphae_oversize_datagrams_total"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0);
        if drops >= 6.0 && oversize >= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "garbage not counted: drops {drops}, oversize {oversize}\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn invalid_configuration_names_the_field_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    for (text, field) in [
        (
            "[[links]]\ntype = \"udp\"\nbind = \"nonsense\"\n",
            "links[0].bind",
        ),
        ("[[links]]\ntype = \"lora\"\n", "links[0].type"),
        (
            "[node]\nid = \"12\"\n[[links]]\ntype = \"udp\"\n",
            "node.id",
        ),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .args(["node", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(field), "{field}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
