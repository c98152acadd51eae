//! Every frame parser and emitter a node needs on the air: `Frame::parse`, `FrameRepr::parse`
//! (every body kind) and `FrameRepr::emit`.
#![no_std]
#![no_main]

use core::hint::black_box;
use hyphae_wire::{Frame, FrameRepr};
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
    black_box((acc, out));
    loop {}
}
