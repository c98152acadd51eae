//! Property tests of the framing codec and the peer table.

use hyphae_link_bridge::cobs;
use hyphae_link_bridge::espnow::{PeerTable, Touch};
use hyphae_link_bridge::record::{ErrorCode, MAX_PAYLOAD, Mac, Record, Status};
use hyphae_link_bridge::{Decoder, MAX_ENCODED};
use proptest::prelude::*;

/// An owned record, so proptest can generate it.
#[derive(Debug, Clone)]
enum Owned {
    Tx(u8, Mac, Vec<u8>),
    Config(u8, u8),
    Hello(u8),
    Peer(u8, Mac),
    Rx(Mac, i8, u8, Vec<u8>),
    Ack(u8, Option<u8>),
    Status(Status),
    Error(u8, u8),
}

impl Owned {
    fn record(&self) -> Record<'_> {
        match self {
            Self::Tx(seq, dst, p) => Record::Tx {
                seq: *seq,
                dst: *dst,
                payload: p,
            },
            Self::Config(seq, channel) => Record::Config {
                seq: *seq,
                channel: *channel,
            },
            Self::Hello(seq) => Record::Hello { seq: *seq },
            Self::Peer(seq, mac) => Record::Peer {
                seq: *seq,
                mac: *mac,
            },
            Self::Rx(src, rssi, flags, p) => Record::Rx {
                src: *src,
                rssi: *rssi,
                flags: *flags,
                payload: p,
            },
            Self::Ack(seq, e) => Record::Ack {
                seq: *seq,
                error: e.map(ErrorCode::from_u8),
            },
            Self::Status(s) => Record::Status(*s),
            Self::Error(c, t) => Record::Error {
                code: ErrorCode::from_u8(*c),
                record_type: *t,
            },
        }
    }
}

fn mac() -> impl Strategy<Value = Mac> {
    any::<[u8; 6]>()
}

fn owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (
            any::<u8>(),
            mac(),
            prop::collection::vec(any::<u8>(), 1..=MAX_PAYLOAD)
        )
            .prop_map(|(s, m, p)| Owned::Tx(s, m, p)),
        (any::<u8>(), any::<u8>()).prop_map(|(s, c)| Owned::Config(s, c)),
        any::<u8>().prop_map(Owned::Hello),
        (any::<u8>(), mac()).prop_map(|(s, m)| Owned::Peer(s, m)),
        (
            mac(),
            any::<i8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD)
        )
            .prop_map(|(m, r, f, p)| Owned::Rx(m, r, f, p)),
        (any::<u8>(), prop::option::of(1u8..)).prop_map(|(s, e)| Owned::Ack(s, e)),
        (any::<[u8; 6]>(), mac(), any::<u8>(), any::<[u32; 3]>()).prop_map(|(b, mac, peers, c)| {
            Owned::Status(Status {
                seq: b[0],
                version: b[1],
                flags: b[2],
                channel: b[3],
                mac,
                peers,
                max_payload: b[4],
                rx_frames: c[0],
                tx_frames: c[1],
                dropped: c[2],
            })
        }),
        (1u8.., any::<u8>()).prop_map(|(c, t)| Owned::Error(c, t)),
    ]
}

proptest! {
    #[test]
    fn cobs_round_trips(data in prop::collection::vec(any::<u8>(), 0..1200)) {
        let mut enc = vec![0u8; cobs::max_encoded_len(data.len())];
        let n = cobs::encode(&data, &mut enc).unwrap();
        prop_assert!(!enc[..n].contains(&0));
        let m = cobs::decode_in_place(&mut enc[..n]).unwrap();
        prop_assert_eq!(&enc[..m], &data[..]);
    }

    #[test]
    fn cobs_decode_never_panics(mut data in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(n) = cobs::decode_in_place(&mut data) {
            prop_assert!(n <= data.len());
        }
    }

    #[test]
    fn records_round_trip(o in owned()) {
        let r = o.record();
        let mut out = [0u8; MAX_ENCODED];
        let n = r.encode(&mut out).unwrap();
        prop_assert!(n <= MAX_ENCODED);
        prop_assert_eq!(out[n - 1], 0);
        prop_assert!(!out[..n - 1].contains(&0));
        let mut d = Decoder::new();
        let mut got = None;
        for &b in &out[..n] {
            if let Some(res) = d.push(b) {
                got = Some(res.map(|x| format!("{x:?}")));
            }
        }
        prop_assert_eq!(got, Some(Ok(format!("{r:?}"))));
    }

    /// Any record preceded by any garbage (ended by a delimiter) is recovered intact.
    #[test]
    fn stream_resynchronises(
        garbage in prop::collection::vec(any::<u8>(), 0..700),
        recs in prop::collection::vec(owned(), 1..6),
    ) {
        let mut stream = garbage.clone();
        stream.push(0);
        for o in &recs {
            let mut out = [0u8; MAX_ENCODED];
            let n = o.record().encode(&mut out).unwrap();
            stream.extend_from_slice(&out[..n]);
        }
        let mut d = Decoder::new();
        let mut ok = Vec::new();
        for &b in &stream {
            if let Some(Ok(r)) = d.push(b) {
                ok.push(format!("{r:?}"));
            }
        }
        let want: Vec<String> = recs.iter().map(|o| format!("{:?}", o.record())).collect();
        // Garbage may itself decode as a record only with a matching CRC-16; the real ones
        // are always the last ones out.
        prop_assert!(ok.len() >= want.len());
        prop_assert_eq!(&ok[ok.len() - want.len()..], &want[..]);
    }

    /// Parsing arbitrary bytes never panics, and whatever parses re-encodes to the same bytes.
    #[test]
    fn parse_arbitrary(data in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = Record::parse(&data) {
            let mut out = [0u8; MAX_ENCODED];
            let n = r.encode(&mut out).unwrap();
            let m = cobs::decode_in_place(&mut out[..n - 1]).unwrap();
            prop_assert_eq!(&out[..m], &data[..]);
        }
    }

    #[test]
    fn decoder_survives_anything(data in prop::collection::vec(any::<u8>(), 0..3000)) {
        let mut d = Decoder::new();
        for &b in &data {
            let _ = d.push(b);
            prop_assert!(d.pending() <= MAX_ENCODED);
        }
    }

    /// The peer table against a model: a list ordered by last use, oldest first.
    #[test]
    fn peer_table_matches_lru_model(ops in prop::collection::vec((0u8..12, any::<bool>()), 0..200)) {
        const N: usize = 5;
        let mut t = PeerTable::<N>::new();
        let mut model: Vec<Mac> = Vec::new();
        for (now, (id, send)) in ops.into_iter().enumerate() {
            let m = [id; 6];
            let now = now as u64;
            if send {
                let res = t.touch(&m, now);
                if let Some(i) = model.iter().position(|x| *x == m) {
                    prop_assert_eq!(res, Touch::Known);
                    model.remove(i);
                } else if model.len() < N {
                    prop_assert_eq!(res, Touch::Added);
                } else {
                    let evicted = model.remove(0);
                    prop_assert_eq!(res, Touch::Replaced { evicted });
                }
                model.push(m);
            } else {
                t.seen(&m, now);
                if let Some(i) = model.iter().position(|x| *x == m) {
                    model.remove(i);
                    model.push(m);
                }
            }
            prop_assert_eq!(t.len(), model.len());
            for x in &model {
                prop_assert!(t.contains(x));
            }
        }
    }
}
