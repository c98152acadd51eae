//! Any bytes as RYLR-998 output: split into lines, parse each response, decode +RCV data.
#![no_main]

use hyphae_link_rylr998::at::{LineSplitter, Response, parse};
use hyphae_link_rylr998::encoding;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s: LineSplitter<320> = LineSplitter::new();
    s.feed(data, |line| {
        if let Ok(Response::Rcv { data, .. }) = parse(line) {
            let mut out = [0u8; 240];
            if let Ok(n) = encoding::decode(data, &mut out) {
                // What decodes re-encodes to the same bytes.
                let mut again = [0u8; 240];
                let m = encoding::encode(&out[..n], &mut again).expect("fits");
                assert_eq!(&again[..m], data);
            }
        }
    });
    let mut out = [0u8; 512];
    let _ = encoding::decode(data, &mut out);
});
