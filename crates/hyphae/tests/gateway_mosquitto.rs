//! `hyphae gateway` and `hyphae node` processes over UDP with a real Mosquitto: a device on the
//! node CONNECTs, receives its CONNACK and PUBLISHes a 3000-byte reading that a separate MQTT
//! client receives under `/device/<mac>/<suffix>`. Fails (does not skip) when `HYPHAE_CI=1` and
//! Mosquitto is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hyphae_host::api::{Client, event_data};
use hyphae_mqtt::gateway::emit;
use hyphae_wire::DeviceRepr;
use hyphae_wire::device::{Qos, ReturnCode};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use common::{Proc, free_udp, start_hyphae};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

fn spawn(args: &[&str], path: &std::path::Path) -> Proc {
    start_hyphae(args, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_reaches_mosquitto_through_gateway_process() {
    if !std::path::Path::new(MOSQUITTO).exists() {
        assert_ne!(
            std::env::var("HYPHAE_CI").as_deref(),
            Ok("1"),
            "{MOSQUITTO} missing with HYPHAE_CI=1"
        );
        eprintln!("\n!!! SKIPPING: {MOSQUITTO} not installed (apt-get install mosquitto) !!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = hyphae_mqtt::broker::free_port().unwrap();
    let conf = dir.path().join("m.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .unwrap();
    let _broker = Proc(
        Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The separate checker.
    let (checker, mut ev) = AsyncClient::new(MqttOptions::new("checker", "127.0.0.1", port), 16);
    checker
        .subscribe("/device/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = ev.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = e {
                let _ = tx.send((p.topic, p.payload.to_vec()));
            }
        }
    });

    let (gu, du) = (free_udp(), free_udp());
    let dapi = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw_conf = dir.path().join("gw.toml");
    std::fs::write(&gw_conf, format!("[node]\nid = \"00000000000000aa\"\nbeacon_ms = 200\n[[links]]\ntype = \"udp\"\nbind = \"127.0.0.1:{gu}\"\npeers = [\"127.0.0.1:{du}\"]\ndiscovery = \"none\"\n[api]\nlisten = \"\"\n[security]\ninsecure = true\n")).unwrap();
    let dev_conf = dir.path().join("dev.toml");
    std::fs::write(&dev_conf, format!("[node]\nid = \"00000000000000bb\"\nbeacon_ms = 200\n[[links]]\ntype = \"udp\"\nbind = \"127.0.0.1:{du}\"\npeers = [\"127.0.0.1:{gu}\"]\ndiscovery = \"none\"\n[api]\nlisten = \"tcp:127.0.0.1:{dapi}\"\n[security]\ninsecure = true\n")).unwrap();
    let url = format!("mqtt://127.0.0.1:{port}");
    let _gw = spawn(
        &[
            "gateway",
            "--mqtt",
            &url,
            "--spool",
            dir.path().join("spool").to_str().unwrap(),
        ],
        &gw_conf,
    );
    let _dev = spawn(&["node"], &dev_conf);

    let mut c = Client::connect(&format!("127.0.0.1:{dapi}")).await.unwrap();
    c.register(hyphae_wire::device::APP_NAME).await.unwrap();
    let gw_id = [0, 0, 0, 0, 0, 0, 0, 0xaa];
    let mac = [0x24, 0x6f, 0x28, 0xaa, 0xbb, 0xcc];
    let connect = emit(&DeviceRepr::Connect {
        keepalive: 60,
        mac,
        name: Some("probe"),
    });
    // Retry until the gateway is a peer and answers.
    let deadline = Instant::now() + Duration::from_secs(15);
    'connect: loop {
        assert!(Instant::now() < deadline, "no CONNACK");
        let _ = c
            .send(hyphae_wire::device::APP_NAME, &gw_id, &connect)
            .await;
        let until = Instant::now() + Duration::from_millis(1000);
        while let Ok(Ok(v)) = tokio::time::timeout(
            until.saturating_duration_since(Instant::now()),
            c.next_event(),
        )
        .await
        {
            if v["event"] == "delivered" {
                let bytes = event_data(&v).unwrap();
                let p = hyphae_wire::DevicePacket::new_checked(&bytes[..]).unwrap();
                assert!(matches!(
                    DeviceRepr::parse(&p).unwrap(),
                    DeviceRepr::ConnAck {
                        code: ReturnCode::Accepted,
                        ..
                    }
                ));
                break 'connect;
            }
        }
    }
    let reading: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let publish = emit(&DeviceRepr::Publish {
        qos: Qos::AtLeastOnce,
        retain: false,
        packet_id: 1,
        topic: "env/temp",
        payload: &reading,
    });
    c.send(hyphae_wire::device::APP_NAME, &gw_id, &publish)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut online = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "reading never reached the broker (online {online})"
        );
        let Ok(Some((t, p))) = tokio::time::timeout(Duration::from_secs(1), seen.recv()).await
        else {
            continue;
        };
        if t == "/device/246f28aabbcc/availability" {
            online |= p == b"online";
        }
        if t == "/device/246f28aabbcc/env/temp" {
            assert_eq!(p, reading);
            break;
        }
    }
    assert!(online);
}
