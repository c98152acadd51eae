//! Any bytes as each header and body parser on its own (the first byte picks the body kind
//! and control code); what parses re-emits to the same bytes.
#![no_main]

use hyphae_wire::header::{Control, Kind};
use hyphae_wire::{
    Address, Body, PackagePacket, PackageRepr, RoutingPacket, RoutingRepr, SecurityPacket,
    SecurityRepr,
};
use libfuzzer_sys::fuzz_target;

const CONTROLS: [Control; 5] = [
    Control::None,
    Control::Ack,
    Control::RetransmitRequest,
    Control::RequestNodeStatus,
    Control::NodeIsActive,
];

fuzz_target!(|data: &[u8]| {
    if let Ok((a, n)) = Address::parse(data) {
        assert_eq!(a.buffer_len(), n);
    }
    if let Ok(r) = RoutingRepr::parse(&RoutingPacket::new_unchecked(data)) {
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut RoutingPacket::new_unchecked(&mut buf[..])).expect("re-emits");
        assert_eq!(buf, data[..buf.len()]);
    }
    let _ = PackageRepr::parse(&PackagePacket::new_unchecked(data));
    let _ = SecurityRepr::parse(&SecurityPacket::new_unchecked(data));
    if let Some((&sel, rest)) = data.split_first() {
        let kind = Kind::ALL[usize::from(sel & 0x0f) % Kind::ALL.len()];
        let control = CONTROLS[usize::from(sel >> 4) % CONTROLS.len()];
        if let Ok(b) = Body::parse(kind, control, rest) {
            assert_eq!(b.kind_and_control(), (kind, control));
            let mut buf = vec![0u8; b.buffer_len()];
            b.emit(&mut buf).expect("a parsed body re-emits");
            assert_eq!(buf, rest);
        }
    }
});
