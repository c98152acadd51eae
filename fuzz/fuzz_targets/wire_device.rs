//! Any bytes as a device–gateway packet; what parses re-emits to the very same bytes.
#![no_main]

use hyphae_wire::device::{Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::new_checked(data) {
        let _ = (p.packet_type(), p.flags(), p.header_len(), p.body());
    }
    if let Ok(r) = Repr::parse(&Packet::new_unchecked(data)) {
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]))
            .expect("a parsed packet re-emits");
        assert_eq!(buf, data, "device encoding is canonical");
    }
});
