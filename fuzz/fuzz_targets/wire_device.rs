//! Any bytes as a device–gateway packet; what parses re-emits to the same bytes.
#![no_main]

use hyphae_wire::device::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::parse(data) {
        let mut buf = vec![0u8; p.buffer_len()];
        let n = p.emit(&mut buf).expect("a parsed packet re-emits");
        assert_eq!(Packet::parse(&buf[..n]).expect("re-parses"), p);
    }
});
