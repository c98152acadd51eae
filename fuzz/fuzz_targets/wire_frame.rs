//! Any bytes as a hyphae frame: split, parse the body, and re-emit what parses (insecure
//! frames to the very same bytes: every encoding is canonical).
#![no_main]

use hyphae_wire::frame::{Frame, FrameRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::parse(data) {
        let _ = f.body();
    }
    if let Ok(f) = FrameRepr::parse(data) {
        let mut buf = vec![0u8; f.buffer_len()];
        let n = f.emit(&mut buf).expect("a parsed frame re-emits");
        assert_eq!(n, data.len());
        if f.security.is_none() {
            assert_eq!(buf, data);
        }
        let again = FrameRepr::parse(&buf[..n]).expect("an emitted frame parses");
        assert_eq!(again, f);
    }
});
