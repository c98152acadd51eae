//! Any bytes as each body and header on its own.
#![no_main]

use hyphae_wire::header::{Control, Kind};
use hyphae_wire::{Address, PackageRepr, RoutingRepr, frame::Body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Address::parse(data);
    let _ = RoutingRepr::parse(data);
    let _ = PackageRepr::parse(data);
    if let Some((&sel, rest)) = data.split_first() {
        let kind = Kind::ALL[usize::from(sel) % Kind::ALL.len()];
        let control = [
            Control::None,
            Control::Ack,
            Control::RetransmitRequest,
            Control::RequestNodeStatus,
            Control::NodeIsActive,
        ][usize::from(sel >> 5) % 5];
        if let Ok(b) = Body::parse(kind, control, rest) {
            let mut buf = vec![0u8; b.buffer_len()];
            b.emit(&mut buf).expect("a parsed body re-emits");
        }
    }
});
