//! Baseline: the probe runtime alone (subtracted from the other probes).
#![no_std]
#![no_main]

use hyphae_wire_size_probe as _;

#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    core::hint::black_box(0u32);
    loop {}
}
