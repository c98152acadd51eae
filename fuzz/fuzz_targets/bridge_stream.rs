//! Any bytes as a serial stream from (or to) the ESP-NOW bridge: the stream decoder never
//! panics, stays bounded, and every record it yields re-encodes to the bytes it came from.
#![no_main]

use hyphae_link_bridge::{Decoder, MAX_ENCODED, Record, cobs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new();
    for &b in data {
        if let Some(Ok(r)) = d.push(b) {
            let mut out = [0u8; MAX_ENCODED];
            let n = r.encode(&mut out).expect("a parsed record re-encodes");
            assert!(n <= MAX_ENCODED);
            assert_eq!(out[n - 1], 0);
        }
        assert!(d.pending() <= MAX_ENCODED);
    }
    // The same bytes as one unstuffed record.
    if let Ok(r) = Record::parse(data) {
        let mut out = [0u8; MAX_ENCODED];
        let n = r.encode(&mut out).expect("a parsed record re-encodes");
        let m = cobs::decode_in_place(&mut out[..n - 1]).expect("own COBS decodes");
        assert_eq!(&out[..m], data, "record encoding is canonical");
    }
});
