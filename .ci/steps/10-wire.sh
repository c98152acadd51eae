#!/usr/bin/env bash
# hyphae-wire: build the wire fuzz targets with nightly and smoke-run each for a few seconds.
# (The one-off 60-second runs and their figures are in docs/BENCHMARKS.md, "Wire formats".)
set -euo pipefail
cd "$(dirname "$0")/../.."

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz --version >/dev/null || { echo "cargo-fuzz unusable" >&2; exit 1; }

cd fuzz
targets=(wire_frame wire_parts wire_device)
for t in "${targets[@]}"; do
  cargo +nightly fuzz build -O "$t"
done
for t in "${targets[@]}"; do
  # A crash makes libFuzzer exit non-zero, which fails the step.
  cargo +nightly fuzz run -O "$t" -- -max_total_time="${HYPHAE_FUZZ_SECONDS:-10}" 2>&1 | tail -n 2
done
