//! Blobs larger than the node's memory through a `BlobStore`: a 1 MiB blob over a lossy
//! 2-hop chain, exactly once and intact; admission limits; resume after the sender restarts.

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::harness::{Channel, World, node_id};
use hyphae_core::blob::{self, BlobEvent, BlobStore, Blobs, StoreError};
use hyphae_core::{AppId, Config, Event, FailReason, NodeId};

/// Blobs in memory (the host's file store has the same shape).
#[derive(Default)]
struct MemStore {
    outgoing: HashMap<u32, Vec<u8>>,
    incoming: HashMap<(NodeId, u32), (Vec<u8>, Vec<bool>)>,
    finished: Vec<(NodeId, u32)>,
    writes: u64,
}

impl BlobStore for MemStore {
    fn read(&mut self, blob: u32, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        let b = self.outgoing.get(&blob).ok_or(StoreError::Unknown)?;
        let off = offset as usize;
        let n = buf.len().min(b.len().saturating_sub(off));
        buf[..n].copy_from_slice(&b[off..off + n]);
        Ok(n)
    }
    fn begin(&mut self, from: NodeId, blob: u32, len: u64, count: u32) -> Result<(), StoreError> {
        if len > 8 << 20 {
            return Err(StoreError::Full);
        }
        self.incoming
            .entry((from, blob))
            .or_insert_with(|| (vec![0; len as usize], vec![false; count as usize]));
        Ok(())
    }
    fn has(&self, from: NodeId, blob: u32, index: u32) -> bool {
        self.incoming
            .get(&(from, blob))
            .is_some_and(|(_, m)| m.get(index as usize).copied().unwrap_or(false))
    }
    fn write(
        &mut self,
        from: NodeId,
        blob: u32,
        index: u32,
        offset: u64,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let (b, m) = self
            .incoming
            .get_mut(&(from, blob))
            .ok_or(StoreError::Unknown)?;
        b[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        m[index as usize] = true;
        self.writes += 1;
        Ok(())
    }
    fn finish(&mut self, from: NodeId, blob: u32) -> Result<(), StoreError> {
        self.finished.push((from, blob));
        Ok(())
    }
}

struct Ends {
    w: World,
    app: AppId,
    layers: Vec<Blobs>,
    stores: Vec<MemStore>,
    seen: usize,
    events: Vec<(usize, BlobEvent)>,
}

impl Ends {
    fn new(hops: usize, loss: f64, max_blob: u64) -> Self {
        let config = Config {
            max_transfer: 64 * 1024,
            ..Config::default()
        };
        let mut w = World::chain(hops + 1, config, Channel::lossy(loss), 7);
        let app = w.register_all(blob::APP_NAME);
        w.settle();
        let n = w.nodes.len();
        Self {
            w,
            app,
            layers: (0..n)
                .map(|_| Blobs::new(app, 60 * 1024, max_blob))
                .collect(),
            stores: (0..n).map(|_| MemStore::default()).collect(),
            seen: 0,
            events: Vec::new(),
        }
    }

    /// Run until `done` or a simulated deadline.
    fn run(&mut self, secs: u64, done: impl Fn(&Self) -> bool) {
        let deadline = self.w.now + core::time::Duration::from_secs(secs);
        let mut scratch = vec![0u8; 64 * 1024];
        while self.w.now < deadline && !done(self) {
            for i in 0..self.layers.len() {
                self.layers[i].pump(
                    &mut self.w.nodes[i],
                    self.w.now,
                    &mut self.stores[i],
                    &mut scratch,
                );
            }
            if !self.w.step() {
                break;
            }
            while self.seen < self.w.log.len() {
                let l = &self.w.log[self.seen];
                self.seen += 1;
                let i = l.node;
                match l.event {
                    Event::Delivered(d) if d.app == self.app => {
                        let p = l.payload.clone().unwrap();
                        self.layers[i].on_delivery(self.w.now, d.from, &p, &mut self.stores[i]);
                    }
                    Event::SendDone { id, .. } => {
                        self.layers[i].on_send_outcome(id, None);
                    }
                    Event::SendFailed { id, reason, .. } => {
                        self.layers[i].on_send_outcome(id, Some(reason));
                    }
                    _ => {}
                }
            }
            for i in 0..self.layers.len() {
                while let Some(e) = self.layers[i].poll_event() {
                    self.events.push((i, e));
                }
            }
        }
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + i / 7) as u8).collect()
}

#[test]
fn one_mebibyte_over_a_lossy_chain() {
    let mut e = Ends::new(2, 0.1, 16 << 20);
    let blob = data(1 << 20);
    e.stores[0].outgoing.insert(42, blob.clone());
    e.layers[0]
        .send(node_id(2), AppId(0x0abc), 42, blob.len() as u64)
        .unwrap();
    e.run(600, |e| e.events.len() >= 2);
    assert!(
        e.events.contains(&(
            0,
            BlobEvent::Sent {
                blob: 42,
                to: node_id(2)
            }
        )),
        "{:?}",
        e.events
    );
    assert!(e.events.contains(&(
        2,
        BlobEvent::Received {
            from: node_id(0),
            blob: 42,
            app: AppId(0x0abc),
            len: 1 << 20
        }
    )));
    let (got, map) = &e.stores[2].incoming[&(node_id(0), 42)];
    assert!(map.iter().all(|&b| b));
    assert!(got == &blob, "bytes differ");
    assert_eq!(
        e.stores[2].finished,
        vec![(node_id(0), 42)],
        "reported once"
    );
    // 1 MiB is 16 times what the node's reassembly memory holds.
    assert_eq!(e.stores[2].writes, 18);
}

#[test]
fn receiver_limit_rejects_and_sender_is_told() {
    let mut e = Ends::new(1, 0.0, 100_000);
    e.stores[0].outgoing.insert(1, data(300_000));
    e.layers[0].send(node_id(1), AppId(5), 1, 300_000).unwrap();
    e.run(60, |e| !e.events.is_empty());
    assert_eq!(
        e.events,
        vec![(
            0,
            BlobEvent::Failed {
                blob: 1,
                to: node_id(1),
                reason: FailReason::TooLarge
            }
        )]
    );
    assert_eq!(e.layers[1].counters().rejected, 1);
    assert!(e.stores[1].incoming.is_empty(), "nothing allocated for it");
    assert_eq!(
        e.layers[0].send(node_id(1), AppId(5), 2, 0),
        Err(blob::BlobError::TooLarge)
    );
}

#[test]
fn resume_sends_only_what_is_missing() {
    let mut e = Ends::new(1, 0.0, 16 << 20);
    let blob = data(600_000);
    e.stores[0].outgoing.insert(9, blob.clone());
    e.layers[0].send(node_id(1), AppId(5), 9, 600_000).unwrap();
    // Interrupt the sender after a few chunks: its blob layer is lost (a restart).
    e.run(60, |e| e.stores[1].writes >= 4);
    let before = e.stores[1].writes;
    assert!((4..10).contains(&before), "{before}");
    e.layers[0] = Blobs::new(e.app, 60 * 1024, 16 << 20);
    e.layers[0]
        .resume(node_id(1), AppId(5), 9, 600_000)
        .unwrap();
    e.run(120, |e| e.events.iter().any(|(i, _)| *i == 0));
    assert!(
        e.events.contains(&(
            0,
            BlobEvent::Sent {
                blob: 9,
                to: node_id(1)
            }
        )),
        "{:?}",
        e.events
    );
    assert!(e.layers[0].counters().chunks_skipped >= before);
    assert_eq!(e.stores[1].incoming[&(node_id(0), 9)].0, blob);
    // Every chunk written exactly once over both sessions.
    assert_eq!(e.stores[1].writes, 10);
}

#[test]
fn garbage_is_counted_never_trusted() {
    let mut l = Blobs::new(AppId(1), 1000, 1 << 20);
    let mut s = MemStore::default();
    let now = hyphae_core::Instant::from_secs(1);
    for bad in [
        &b""[..],
        b"C",
        b"C\x01\x00\x00",
        b"X\x01\x00\x00\x00\x00",
        // A chunk claiming 4 GiB.
        b"C\x01\x05\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\xff\xff\xff\xffAB",
        // A chunk whose length does not match its index.
        b"C\x01\x05\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x10\x00\x00\x00AB",
        b"H\x01\x01\x00\x00\x00\xff",
    ] {
        l.on_delivery(now, node_id(3), bad, &mut s);
    }
    assert!(l.counters().malformed >= 4, "{:?}", l.counters());
    assert_eq!(l.counters().chunks_stored, 0);
    assert!(l.poll_event().is_none());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn arbitrary_messages_never_panic(kind in 0usize..5, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
        let mut l = Blobs::new(AppId(1), 16, 4096);
        let mut s = MemStore::default();
        let mut m = vec![[b'C', b'R', b'Q', b'H', b'Z'][kind], 1];
        m.extend_from_slice(&body);
        l.on_delivery(hyphae_core::Instant::from_secs(1), node_id(1), &m, &mut s);
        // Whatever was stored stays within the admitted blob.
        for ((_, _), (b, _)) in &s.incoming {
            proptest::prop_assert!(b.len() <= 4096);
        }
    }
}
