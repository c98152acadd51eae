//! The runner against emulated modules on real pseudo-terminals.
#![allow(missing_docs, clippy::unwrap_used)]

mod emulator;

use std::sync::atomic::Ordering;
use std::time::Duration;

use hyphae_link::{LinkAddr, LinkError};
use hyphae_link_rylr998::{Rylr998, Rylr998Config};

fn config(path: &str, address: u16) -> Rylr998Config {
    let mut c = Rylr998Config::new(path);
    c.address = address;
    // SF7 / 500 kHz keeps the emulated airtime short; 100 % duty so tests are not throttled.
    c.spreading_factor = 7;
    c.bandwidth_hz = 500_000;
    c.duty_cycle_percent = 100.0;
    c
}

async fn open(m: &emulator::Module, address: u16) -> Rylr998 {
    tokio::time::timeout(
        Duration::from_secs(10),
        Rylr998::open(config(&m.path, address)),
    )
    .await
    .expect("configured in time")
    .expect("configured")
}

fn addr(a: u16) -> LinkAddr {
    LinkAddr::new(&a.to_be_bytes()).unwrap()
}

async fn recv(link: &mut Rylr998) -> hyphae_link_rylr998::Datagram {
    tokio::time::timeout(Duration::from_secs(5), link.recv())
        .await
        .expect("frame in time")
        .expect("link alive")
}

#[tokio::test]
async fn two_modules_exchange_binary_frames() {
    let air = emulator::air();
    let (ma, mb) = (emulator::spawn(&air), emulator::spawn(&air));
    let a = open(&ma, 10).await;
    let mut b = open(&mb, 20).await;
    assert!(ma.knobs.config_commands.load(Ordering::SeqCst) >= 5);
    let frames: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        (0..=255u8).cycle().take(236).collect(),
        vec![b'\r'; 236],
        b"a,b,\r\n,c".to_vec(),
    ];
    for f in &frames {
        a.send(&addr(20), f).await.unwrap();
        let d = recv(&mut b).await;
        assert_eq!(&d.data, f);
        assert_eq!(d.from, addr(10));
        assert_eq!(d.meta.rssi, Some(-42));
        assert_eq!(d.meta.snr, Some(9));
    }
    // Broadcast reaches b too.
    a.send(&LinkAddr::BROADCAST, b"to all").await.unwrap();
    assert_eq!(recv(&mut b).await.data, b"to all");
    assert_eq!(
        a.send(&addr(20), &[0u8; 237]).await,
        Err(LinkError::FrameTooLarge)
    );
    assert_eq!(a.stats().sent.load(Ordering::Relaxed), 5);
}

#[tokio::test]
async fn garbage_truncated_and_malformed_lines_are_counted() {
    let air = emulator::air();
    let (ma, mb) = (emulator::spawn(&air), emulator::spawn(&air));
    let a = open(&ma, 1).await;
    let mut b = open(&mb, 2).await;
    for junk in [
        &b"\x00\xff garbage\r\n"[..],
        b"+RCV=1,10,short,-1,2\r\n",
        b"+RCV=1,3,\x0b\x0c\x0d,-1,2\r\n",
        b"+ERR=\r\n",
        b"+RCV=1,5,ab",
        b"\r\n",
        &[b'x'; 1000],
        b"\r\n",
    ] {
        mb.inject.send(junk.to_vec()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.send(&addr(2), b"still works").await.unwrap();
    assert_eq!(recv(&mut b).await.data, b"still works");
    let s = b.stats();
    assert!(s.garbage_lines.load(Ordering::Relaxed) >= 3, "{s:?}");
    assert_eq!(s.overlong_lines.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn module_errors_retry_or_fail_clearly() {
    let air = emulator::air();
    let (ma, mb) = (emulator::spawn(&air), emulator::spawn(&air));
    let a = open(&ma, 1).await;
    let mut b = open(&mb, 2).await;
    // +ERR=17 (last TX not finished) is transient: retried, then delivered.
    ma.knobs.fail_next_send.store(17, Ordering::SeqCst);
    a.send(&addr(2), b"retry me").await.unwrap();
    assert_eq!(recv(&mut b).await.data, b"retry me");
    // +ERR=12 is not: the caller is told.
    ma.knobs.fail_next_send.store(12, Ordering::SeqCst);
    assert_eq!(a.send(&addr(2), b"x").await, Err(LinkError::Rejected));
    // A module that never answers: timed out, then the link recovers.
    ma.knobs.mute_sends.store(true, Ordering::SeqCst);
    assert_eq!(a.send(&addr(2), b"lost").await, Err(LinkError::TimedOut));
    ma.knobs.mute_sends.store(false, Ordering::SeqCst);
    a.send(&addr(2), b"back").await.unwrap();
    assert_eq!(recv(&mut b).await.data, b"back");
}

#[tokio::test]
async fn module_reset_reconfigures() {
    let air = emulator::air();
    let (ma, mb) = (emulator::spawn(&air), emulator::spawn(&air));
    let a = open(&ma, 1).await;
    let mut b = open(&mb, 2).await;
    let before = mb.knobs.config_commands.load(Ordering::SeqCst);
    // The module resets on its own (brown-out): it forgets its address until reconfigured.
    mb.inject.send(b"+READY\r\n".to_vec()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(mb.knobs.config_commands.load(Ordering::SeqCst) >= before + 5);
    assert_eq!(b.stats().resets.load(Ordering::Relaxed), 1);
    a.send(&addr(2), b"after reset").await.unwrap();
    assert_eq!(recv(&mut b).await.data, b"after reset");
}

#[tokio::test]
async fn duty_cycle_refuses_and_reports_the_wait() {
    let air = emulator::air();
    let ma = emulator::spawn(&air);
    let mut c = config(&ma.path, 1);
    c.duty_cycle_percent = 1.0;
    let a = Rylr998::open(c).await.unwrap();
    a.send(&LinkAddr::BROADCAST, &[7u8; 200]).await.unwrap();
    assert_eq!(
        a.send(&LinkAddr::BROADCAST, &[7u8; 200]).await,
        Err(LinkError::BudgetExhausted)
    );
    let wait = a.budget_wait().await;
    // ~78 ms on air at SF7/500 kHz → ~7.7 s of silence at 1 %.
    assert!(
        wait > Duration::from_secs(5) && wait < Duration::from_secs(10),
        "{wait:?}"
    );
    assert_eq!(a.stats().budget_refusals.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn bad_config_and_missing_device_are_clear_errors() {
    let mut c = Rylr998Config::new("/dev/does-not-exist-hyphae");
    let e = Rylr998::open(c.clone()).await.err().unwrap();
    assert!(e.to_string().contains("cannot open"), "{e}");
    c.network_id = 16;
    let e = Rylr998::open(c).await.err().unwrap();
    assert!(e.to_string().contains("network_id"), "{e}");
}

#[tokio::test]
async fn split_halves_send_and_receive_concurrently() {
    let air = emulator::air();
    let (ma, mb) = (emulator::spawn(&air), emulator::spawn(&air));
    let (a_tx, _a_rx) = open(&ma, 7).await.into_parts();
    let (_b_tx, mut b_rx) = open(&mb, 8).await.into_parts();
    let sender = tokio::spawn(async move {
        for i in 0..5u8 {
            a_tx.send(&addr(8), &[i; 100]).await.unwrap();
        }
        a_tx.stats().sent.load(Ordering::Relaxed)
    });
    for i in 0..5u8 {
        let d = tokio::time::timeout(Duration::from_secs(5), b_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.data, vec![i; 100]);
    }
    assert_eq!(sender.await.unwrap(), 5);
}
