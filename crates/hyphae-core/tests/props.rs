//! Property: over arbitrary loss, duplication and reordering, every blob is delivered exactly
//! once and intact, or its sender is told it failed; nothing else is delivered.

mod common;

use core::time::Duration;

use common::harness::{Channel, World, node_id};
use hyphae_core::{Config, SendError};
use proptest::prelude::*;

fn config() -> Config {
    Config {
        transfer_timeout: Duration::from_secs(8),
        rto_max: Duration::from_secs(1),
        beacon_interval: Duration::from_millis(500),
        ..Config::default()
    }
}

proptest! {
    // 2000 cases by default; `PROPS_CASES=20000` for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        .. ProptestConfig::default()
    })]

    #[test]
    fn delivered_once_intact_or_failed(
        seed in any::<u64>(),
        loss in 0.0f64..0.6,
        dup in 0.0f64..0.3,
        reorder in 0.0f64..0.5,
        lens in proptest::collection::vec(prop_oneof![4 => 0usize..3000, 1 => 3000usize..70_000], 1..4),
        chain in any::<bool>(),
        tx_status in any::<bool>(),
    ) {
        let ch = Channel { loss, dup, reorder, reorder_delay: Duration::from_millis(6) };
        // Beacons must get through before anything can be sent; settle on a clean channel.
        let mut w = if chain {
            World::chain(3, config(), Channel::PERFECT, seed)
        } else {
            World::full_mesh(3, config(), Channel::PERFECT, seed)
        };
        let app = w.register_all("prop");
        w.settle();
        w.channel = ch;
        w.tx_status = tx_status;
        let dest = 2;
        let mut sends = Vec::new();
        let mut refused = Vec::new();
        for (k, len) in lens.iter().enumerate() {
            let data: Vec<u8> = (0..*len).map(|i| (i as u8) ^ (k as u8).wrapping_mul(77)).collect();
            let src = k % 2;
            // A refused send (too large, or no buffer now) is a failure the sender is told of.
            match w.nodes[src].send(w.now, app, node_id(dest), &data) {
                Ok(id) => sends.push((src, id, data)),
                Err(e) => {
                    prop_assert!(matches!(e, SendError::TooLarge | SendError::Busy), "{e}");
                    refused.push(data);
                }
            }
        }
        let deadline = w.now + Duration::from_secs(120);
        w.run_until(deadline, |w| sends.iter().all(|(s, id, _)| w.outcome(*s, *id).is_some()));
        let got: Vec<Vec<u8>> = w.deliveries(dest).map(|l| l.payload.clone().unwrap()).collect();
        let mut unmatched = got.clone();
        for (src, id, data) in &sends {
            let outcome = w.outcome(*src, *id);
            prop_assert!(outcome.is_some(), "send {:?} never resolved", id);
            let n = got.iter().filter(|g| *g == data).count();
            let expected_copies = sends.iter().filter(|(_, _, d)| d == data).count();
            if outcome.unwrap().is_ok() {
                prop_assert!(n >= 1, "SendDone but not delivered");
            }
            prop_assert!(n <= expected_copies, "delivered {} times", n);
            if let Some(p) = unmatched.iter().position(|g| g == data) {
                unmatched.remove(p);
            }
        }
        prop_assert!(unmatched.is_empty(), "delivered something never sent");
        for data in &refused {
            let n = got.iter().filter(|g| *g == data).count();
            let sent_copies = sends.iter().filter(|(_, _, d)| d == data).count();
            prop_assert!(n <= sent_copies, "a refused blob was delivered");
        }
        if std::env::var_os("PROPS_DEBUG").is_some() {
            let ok = sends.iter().filter(|(s, id, _)| matches!(w.outcome(*s, *id), Some(Ok(_)))).count();
            eprintln!("loss {loss:.2} dup {dup:.2}: {ok}/{} ok, t = {}", sends.len(), w.now);
        }
    }
}
