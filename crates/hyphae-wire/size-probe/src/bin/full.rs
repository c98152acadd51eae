//! The whole crate as a gateway device uses it: frames, the Package header with CRC-32,
//! application ids from names (SHA-256) and the device–gateway protocol.
#![no_std]
#![no_main]

use core::hint::black_box;
use hyphae_wire::{AppId, DevicePacket, DeviceRepr, Frame, FrameRepr, PackageRepr};
use hyphae_wire_size_probe as _;

static INPUT: [u8; 250] = [0; 250];

#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    let input: &[u8] = black_box(&INPUT[..]);
    let mut out = [0u8; 250];
    let mut acc = 0usize;
    if let Ok(f) = Frame::parse(input) {
        acc += f.body_offset;
    }
    if let Ok(f) = FrameRepr::parse(input) {
        acc += f.emit(&mut out).unwrap_or(0);
    }
    if let Ok(p) = PackageRepr::parse(input)
        && p.verify(&input[10..]).is_ok()
    {
        acc += p.emit(&mut out[..]).unwrap_or(0);
    }
    if let Ok(d) = DeviceRepr::parse(&DevicePacket::new_unchecked(input)) {
        acc += usize::from(
            d.emit(&mut DevicePacket::new_unchecked(&mut out[..]))
                .is_ok(),
        );
    }
    let name = core::str::from_utf8(&input[..8]).unwrap_or("x");
    acc += AppId::from_name(name).map_or(0, |a| usize::from(a.get()));
    black_box((acc, out));
    loop {}
}
