//! Gateway throughput into a real Mosquitto on localhost, against a plain rumqttc publish loop
//! in the same run. Usage: `cargo run --release -p hyphae-mqtt --example throughput [N]`.
//! Each figure is messages per second from the first publish to the last acknowledgement (QoS 1)
//! or to the last message written (QoS 0); the gateway path includes device-packet parsing,
//! topic mapping and the bridge's ordering and ack tracking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyphae_mqtt::gateway::emit;
use hyphae_mqtt::{Bridge, BridgeConfig, Gateway, GatewayConfig, Output};
use hyphae_wire::DeviceRepr;
use hyphae_wire::device::Qos as DevQos;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

async fn plain(port: u16, n: u64, qos: QoS) -> f64 {
    let mut o = MqttOptions::new(format!("plain-{qos:?}"), "127.0.0.1", port);
    o.set_inflight(100);
    let (client, mut ev) = AsyncClient::new(o, 256);
    let t0 = Instant::now();
    let pubs = tokio::spawn(async move {
        for i in 0..n {
            client
                .publish(
                    "/device/bench/plain",
                    qos,
                    false,
                    format!("{{\"seq\":{i},\"temp\":21.5}}"),
                )
                .await
                .unwrap();
        }
        client
    });
    let mut done = 0;
    while done < n {
        match ev.poll().await.unwrap() {
            Event::Incoming(Packet::PubAck(_)) if qos == QoS::AtLeastOnce => done += 1,
            Event::Outgoing(Outgoing::Publish(_)) if qos == QoS::AtMostOnce => done += 1,
            _ => {}
        }
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    drop(pubs.await);
    rate
}

async fn gateway(port: u16, n: u64, qos: u8, dir: &std::path::Path) -> f64 {
    let mut gw = Gateway::new(GatewayConfig {
        min_qos: qos,
        ..GatewayConfig::default()
    });
    let (in_tx, _in_rx) = tokio::sync::mpsc::channel(16);
    let (bridge, _task) = Bridge::spawn(
        BridgeConfig {
            url: format!("mqtt://127.0.0.1:{port}"),
            client_id: format!("gw-{qos}"),
            spool_dir: Some(dir.join(format!("spool{qos}"))),
            ..BridgeConfig::default()
        },
        in_tx,
    )
    .unwrap();
    while !bridge.stats().connected.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let node = [1u8; 8];
    let dq = if qos == 1 {
        DevQos::AtLeastOnce
    } else {
        DevQos::AtMostOnce
    };
    let mut out = Vec::new();
    let t0 = Instant::now();
    for i in 0..n {
        let payload = format!("{{\"seq\":{i},\"temp\":21.5}}");
        let pkt = emit(&DeviceRepr::Publish {
            qos: dq,
            retain: false,
            packet_id: i as u16,
            topic: "temp",
            payload: payload.as_bytes(),
        });
        gw.handle_device(Instant::now(), node, &pkt, &mut out)
            .unwrap();
        for o in out.drain(..) {
            if let Output::Mqtt(m) = o {
                bridge.publish(m).await;
            }
        }
    }
    let s = bridge.stats().clone();
    loop {
        let done = if qos == 1 {
            s.acked.load(Ordering::Relaxed)
        } else {
            s.sent.load(Ordering::Relaxed)
        };
        if done >= n && s.spooled.load(Ordering::Relaxed) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir().unwrap();
    let port = hyphae_mqtt::broker::free_port().unwrap();
    let conf = dir.path().join("m.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"),
    )
    .unwrap();
    let mut child = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("messages: {n} per run, ~30-byte JSON payloads, Mosquitto on 127.0.0.1");
    for (qos, q) in [(QoS::AtMostOnce, 0u8), (QoS::AtLeastOnce, 1u8)] {
        let p = plain(port, n, qos).await;
        let g = gateway(port, n, q, dir.path()).await;
        println!(
            "QoS {q}: plain rumqttc {p:.0} msg/s, gateway {g:.0} msg/s, ratio {:.2}",
            g / p
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
