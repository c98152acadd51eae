//! The host link against the bridge emulator, over a real pseudo-terminal opened through
//! tokio-serial exactly as a board's `/dev/ttyACM0` would be.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::time::Duration;

use common::{BRIDGE_MAC, EmuCmd, ROM_BANNER};
use hyphae_link::{LinkAddr, LinkError, LinkKind};
use hyphae_link_bridge::host::{BridgeConfig, BridgeError, BridgeEvent, BridgeLink};
use hyphae_link_bridge::record::{BROADCAST_MAC, ErrorCode, MAX_PAYLOAD, Record};
use hyphae_link_bridge::{MAX_ENCODED, espnow::UNICAST_PEER_SLOTS};
use tokio::time::timeout;

const T: Duration = Duration::from_secs(5);

async fn setup(channel: u8) -> (BridgeLink, common::Emulator, common::Pty) {
    let mut pty = common::pty();
    let master = std::mem::replace(&mut pty.master, common::pty().master);
    let emu = common::spawn(master);
    let cfg = BridgeConfig {
        channel,
        // Generous: CI runs many test binaries at once on two cores.
        ack_timeout_ms: 1500,
        ..BridgeConfig::new(pty.path.to_string_lossy())
    };
    let link = timeout(T, BridgeLink::open(&cfg))
        .await
        .expect("open timed out")
        .expect("open");
    (link, emu, pty)
}

fn addr(mac: [u8; 6]) -> LinkAddr {
    LinkAddr::new(&mac).unwrap()
}

fn encoded(r: &Record<'_>) -> Vec<u8> {
    let mut out = [0u8; MAX_ENCODED];
    let n = r.encode(&mut out).unwrap();
    out[..n].to_vec()
}

#[tokio::test]
async fn handshake_sets_channel_and_reads_mac() {
    let (link, emu, _pty) = setup(6).await;
    assert_eq!(link.local_addr(), addr(BRIDGE_MAC));
    assert_eq!(link.info().kind, LinkKind::EspNowV1);
    assert_eq!(link.info().mtu, 250);
    assert!(emu.with(|s| s.configured && s.channel == 6));
    let st = timeout(T, link.handle().status()).await.unwrap().unwrap();
    assert!(!st.is_boot());
    assert_eq!(st.channel, 6);
    assert_eq!(st.max_payload, 250);
}

#[tokio::test]
async fn frames_round_trip_both_ways() {
    let (mut link, emu, _pty) = setup(1).await;
    let big = vec![0u8; MAX_PAYLOAD];
    let peer = [2, 0, 0, 0, 0, 7];
    link.send(&LinkAddr::BROADCAST, b"beacon").await.unwrap();
    link.send(&addr(peer), &big).await.unwrap();
    // Frames with zero bytes and every byte value survive the stuffing.
    let all: Vec<u8> = (0..=249u8).collect();
    link.send(&addr(peer), &all).await.unwrap();
    let sent = emu.with(|s| s.sent.clone());
    assert_eq!(
        sent,
        vec![
            (BROADCAST_MAC, b"beacon".to_vec()),
            (peer, big.clone()),
            (peer, all.clone()),
        ]
    );
    assert_eq!(link.handle().stats().tx_frames, 3);

    emu.rx(peer, -60, false, &all).await;
    emu.rx([9; 6], -91, true, b"x").await;
    let f = timeout(T, link.recv_frame()).await.unwrap().unwrap();
    assert_eq!(f.from, addr(peer));
    assert_eq!(f.meta.rssi, Some(-60));
    assert!(!f.broadcast);
    assert_eq!(f.data, all);
    let f = timeout(T, link.recv_frame()).await.unwrap().unwrap();
    assert_eq!(
        (f.meta.rssi, f.broadcast, f.data),
        (Some(-91), true, b"x".to_vec())
    );
}

#[tokio::test]
async fn many_frames_in_a_burst_arrive_in_order() {
    let (mut link, emu, _pty) = setup(1).await;
    let queue = hyphae_link_bridge::host::EVENT_QUEUE as u32;
    let arrived = |link: &BridgeLink, n: u64| {
        let s = link.handle().stats();
        s.rx_frames + s.dropped >= n
    };
    // A burst that fits the link's queue arrives whole and in order, even unread for a while.
    for i in 0..queue {
        emu.rx([1; 6], -50, true, &i.to_le_bytes()).await;
    }
    let deadline = tokio::time::Instant::now() + T;
    while !arrived(&link, u64::from(queue)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "frames did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..queue {
        let f = timeout(T, link.recv_frame()).await.unwrap().unwrap();
        assert_eq!(f.data, i.to_le_bytes());
    }
    assert_eq!(link.handle().stats().dropped, 0);
    // A consumer that stops reading loses the newest frames, counted, and the link goes on.
    for i in 0..queue + 100 {
        emu.rx([1; 6], -50, true, &i.to_le_bytes()).await;
    }
    let deadline = tokio::time::Instant::now() + T;
    while !arrived(&link, u64::from(2 * queue + 100)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "frames did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(link.handle().stats().dropped, 100);
    for i in 0..queue {
        let f = timeout(T, link.recv_frame()).await.unwrap().unwrap();
        assert_eq!(f.data, i.to_le_bytes());
    }
    // Sends pipelined from several tasks all complete.
    let h = link.handle();
    let tasks: Vec<_> = (0..64u8)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.send(&LinkAddr::BROADCAST, &[i; 200]).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(emu.with(|s| s.sent.len()), 64);
}

#[tokio::test]
async fn local_validation_errors() {
    let (link, _emu, _pty) = setup(1).await;
    let h = link.handle();
    assert_eq!(
        h.send(&LinkAddr::BROADCAST, &[0; MAX_PAYLOAD + 1]).await,
        Err(BridgeError::FrameSize)
    );
    assert_eq!(
        h.send(&LinkAddr::BROADCAST, &[]).await,
        Err(BridgeError::FrameSize)
    );
    assert_eq!(
        h.send(&LinkAddr::new(&[1, 2]).unwrap(), b"x").await,
        Err(BridgeError::BadAddress)
    );
    assert!(matches!(
        h.set_channel(14).await,
        Err(BridgeError::Config(_))
    ));
    assert_eq!(
        LinkError::from(BridgeError::FrameSize),
        LinkError::FrameTooLarge
    );
}

#[tokio::test]
async fn bridge_errors_are_reported() {
    let (mut link, emu, _pty) = setup(1).await;
    let deaf = [4; 6];
    emu.with(|s| s.deaf.insert(deaf));
    assert_eq!(
        link.send(&addr(deaf), b"hello?").await,
        Err(BridgeError::Rejected(ErrorCode::NoAck))
    );
    // An unsolicited ERROR record.
    emu.send(EmuCmd::Raw(encoded(&Record::Error {
        code: ErrorCode::BadCrc,
        record_type: 0,
    })))
    .await;
    let ev = timeout(T, link.recv()).await.unwrap().unwrap();
    assert_eq!(ev, BridgeEvent::Error(ErrorCode::BadCrc));
    // A swallowed record times out.
    emu.with(|s| s.swallow_tx = 1);
    assert_eq!(
        link.send(&LinkAddr::BROADCAST, b"lost").await,
        Err(BridgeError::TimedOut)
    );
    // ...and the link still works.
    link.send(&LinkAddr::BROADCAST, b"ok").await.unwrap();
}

#[tokio::test]
async fn garbage_and_truncated_records_are_skipped() {
    let (mut link, emu, _pty) = setup(1).await;
    let good = encoded(&Record::Rx {
        src: [5; 6],
        rssi: -40,
        flags: 0,
        payload: b"after",
    });
    let mut junk = b"\r\nI (31) boot: ESP-IDF v5.1 2nd stage bootloader\r\n".to_vec();
    junk.push(0);
    // A truncated record: the first half of a good one, then a delimiter.
    junk.extend_from_slice(&good[..good.len() / 2]);
    junk.push(0);
    // A record with a flipped bit (CRC mismatch).
    let mut bad = good.clone();
    bad[5] ^= 0x10;
    junk.extend(bad);
    // An oversized run with no delimiter for longer than any record.
    junk.extend(std::iter::repeat_n(0x41u8, 3 * MAX_ENCODED));
    junk.push(0);
    // Random bytes.
    junk.extend((0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    junk.push(0);
    emu.send(EmuCmd::Raw(junk)).await;
    emu.send(EmuCmd::Raw(good)).await;
    let f = timeout(T, link.recv_frame()).await.unwrap().unwrap();
    assert_eq!(f.data, b"after");
    assert!(link.handle().stats().decode_errors >= 4);
    link.send(&LinkAddr::BROADCAST, b"still fine")
        .await
        .unwrap();
}

#[tokio::test]
async fn bridge_reset_fails_in_flight_and_reconfigures() {
    let (mut link, emu, _pty) = setup(11).await;
    emu.with(|s| s.swallow_tx = 1);
    let before = emu.with(|s| s.records_in);
    let h = link.handle();
    let in_flight = tokio::spawn(async move { h.send(&LinkAddr::BROADCAST, b"doomed").await });
    // Wait until the TX has reached the bridge (which swallows it), then reboot it.
    while emu.with(|s| s.records_in) == before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    emu.send(EmuCmd::Reset).await;
    assert_eq!(in_flight.await.unwrap(), Err(BridgeError::Reset));
    let ev = timeout(T, link.recv()).await.unwrap().unwrap();
    let BridgeEvent::Reset(st) = ev else {
        panic!("expected a reset event, got {ev:?}")
    };
    assert!(st.is_boot());
    assert_eq!(st.channel, 1);
    // The link re-applied channel 11 by itself.
    for _ in 0..50 {
        if emu.with(|s| s.configured) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(emu.with(|s| s.configured && s.channel == 11));
    assert_eq!(link.handle().stats().resets, 1);
    link.send(&LinkAddr::BROADCAST, b"after reset")
        .await
        .unwrap();
    assert!(ROM_BANNER.len() > 10);
}

#[tokio::test]
async fn peer_table_evicts_least_recently_seen() {
    let (link, emu, _pty) = setup(1).await;
    let mac = |i: u8| [0x10, 0, 0, 0, 0, i];
    for i in 0..UNICAST_PEER_SLOTS as u8 {
        link.send(&addr(mac(i)), b"x").await.unwrap();
    }
    // Peer 0 talks to us, so peer 1 is now the least recently seen.
    emu.rx(mac(0), -50, false, b"hi").await;
    link.handle().add_peer(&addr(mac(0))).await.unwrap();
    link.send(&addr(mac(100)), b"x").await.unwrap();
    assert_eq!(emu.with(|s| s.evicted.clone()), vec![mac(1)]);
    assert_eq!(emu.with(|s| s.peers.len()), UNICAST_PEER_SLOTS);
}

#[tokio::test]
async fn unplugged_port_closes_the_link() {
    let (mut link, emu, pty) = setup(1).await;
    emu.send(EmuCmd::Unplug).await;
    drop(pty);
    let end = timeout(T, async { while link.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "recv did not end after the port vanished");
    let r = link.send(&LinkAddr::BROADCAST, b"x").await;
    assert!(
        matches!(r, Err(BridgeError::Closed | BridgeError::Io(_))),
        "{r:?}"
    );
}

#[tokio::test]
async fn open_fails_cleanly() {
    let cfg = BridgeConfig::new("/dev/does-not-exist-hyphae");
    assert!(matches!(
        BridgeLink::open(&cfg).await,
        Err(BridgeError::Open(_))
    ));
    // A silent device: the handshake times out.
    let pty = common::pty();
    let cfg = BridgeConfig {
        ack_timeout_ms: 50,
        hello_attempts: 2,
        ..BridgeConfig::new(pty.path.to_string_lossy())
    };
    assert_eq!(
        BridgeLink::open(&cfg).await.map(|_| ()),
        Err(BridgeError::TimedOut)
    );
}

#[test]
fn config_reads_from_toml() {
    let c: BridgeConfig = toml::from_str("port = \"/dev/ttyACM1\"\nchannel = 6\n").unwrap();
    assert_eq!(c.port, "/dev/ttyACM1");
    assert_eq!(c.channel, 6);
    assert_eq!(c.baud, 115_200);
    assert_eq!(BridgeConfig::TYPE, "espnow-bridge");
}

/// Host-side cost of the link: TX round trips (record out, ACK back) and RX records per second
/// through the real pty, against the emulator. Figures in docs/BENCHMARKS.md; run with
/// `cargo test --release -p hyphae-link-bridge --test pty -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_pty_throughput() {
    let (mut link, emu, _pty) = setup(1).await;
    let frame = [0xa5u8; MAX_PAYLOAD];
    let n = 2000u32;
    // Stop-and-wait: one TX in flight.
    let t = std::time::Instant::now();
    for _ in 0..n {
        link.send(&LinkAddr::BROADCAST, &frame).await.unwrap();
    }
    let serial = t.elapsed();
    // Pipelined: 32 in flight from 32 tasks.
    let h = link.handle();
    let t = std::time::Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move {
                for _ in 0..n / 32 {
                    h.send(&LinkAddr::BROADCAST, &[0xa5u8; MAX_PAYLOAD])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let piped = t.elapsed();
    // RX: frames from the emulator to the consumer.
    let feeder = emu.clone();
    let t = std::time::Instant::now();
    tokio::spawn(async move {
        for _ in 0..n {
            feeder.rx([1; 6], -50, true, &[0x5au8; MAX_PAYLOAD]).await;
        }
    });
    for _ in 0..n {
        timeout(T, link.recv_frame()).await.unwrap().unwrap();
    }
    let rx = t.elapsed();
    let rate = |d: Duration, count: u32| f64::from(count) / d.as_secs_f64();
    println!(
        "250-byte frames over the pty: TX stop-and-wait {:.0}/s ({:.1} us each), TX 32 in flight {:.0}/s, RX {:.0}/s",
        rate(serial, n),
        serial.as_secs_f64() * 1e6 / f64::from(n),
        rate(piped, n / 32 * 32),
        rate(rx, n)
    );
    assert_eq!(link.handle().stats().dropped, 0);
}

/// The way a node's configuration selects this link: an internally tagged enum of link kinds.
#[test]
fn config_selected_by_type_tag() {
    #[derive(serde::Deserialize, Debug)]
    #[serde(tag = "type")]
    enum LinkConfig {
        #[serde(rename = "espnow-bridge")]
        EspNowBridge(BridgeConfig),
        #[serde(rename = "udp")]
        Udp {},
    }
    #[derive(serde::Deserialize, Debug)]
    struct File {
        link: Vec<LinkConfig>,
    }
    let f: File = toml::from_str(
        "[[link]]\ntype = \"espnow-bridge\"\nport = \"/dev/ttyACM0\"\nchannel = 11\n\n[[link]]\ntype = \"udp\"\n",
    )
    .unwrap();
    let LinkConfig::EspNowBridge(c) = &f.link[0] else {
        panic!("{f:?}")
    };
    assert_eq!((c.port.as_str(), c.channel), ("/dev/ttyACM0", 11));
    assert!(matches!(f.link[1], LinkConfig::Udp {}));
    let bad: Result<File, _> =
        toml::from_str("[[link]]\ntype = \"espnow-bridge\"\nchannel = \"six\"\n");
    assert!(bad.is_err());
}
