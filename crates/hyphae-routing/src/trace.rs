//! Trace route (`frames.md` §5.5): every forwarding node appends one hop record — its short id,
//! the RSSI and link quality of the link the probe arrived on, and the time it held the probe.
//! The destination turns the probe into a reply routed back to the origin.

use hyphae_wire::trace::{Hop, Repr};
use hyphae_wire::{Error, NodeId};

/// Append this node's hop record to a probe (`Err(TooLong)` beyond 32 hops).
pub fn record(
    probe: &mut Repr,
    node: NodeId,
    rssi: i8,
    quality: u8,
    latency_ms: u16,
) -> Result<(), Error> {
    probe.push(Hop {
        node: node.short(),
        rssi,
        quality,
        latency_ms,
    })
}

/// The reply the destination sends back: the same hops, reply bit set.
pub fn reply(probe: &Repr) -> Repr {
    let mut r = Repr::new(probe.probe, true);
    for h in probe.hops() {
        // A probe has at most as many hops as a reply can hold.
        let _ = r.push(*h);
    }
    r
}

/// Sum of per-hop latencies in milliseconds.
pub fn total_latency_ms(probe: &Repr) -> u32 {
    probe.hops().iter().map(|h| u32::from(h.latency_ms)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_replies() {
        let mut p = Repr::new(7, false);
        for i in 0..32u8 {
            record(&mut p, NodeId([i; 8]), -60, 200, 3).unwrap();
        }
        assert!(record(&mut p, NodeId([0; 8]), -60, 200, 3).is_err());
        let r = reply(&p);
        assert!(r.reply);
        assert_eq!(r.hops().len(), 32);
        assert_eq!(total_latency_ms(&r), 96);
    }
}
