#!/usr/bin/env bash
# hyphae-link-rylr998: the AT codec builds bare-metal; the response-parser fuzz target smoke-runs.
# (The pseudo-terminal tests run in the workspace's cargo test.)
set -euo pipefail
cd "$(dirname "$0")/../.."
for target in riscv32imc-unknown-none-elf thumbv7em-none-eabihf; do
  cargo build --release --locked --target "$target" -p hyphae-link-rylr998 --no-default-features
done
cargo run --release --locked -q -p hyphae-link-rylr998 --example figures
cd fuzz
cargo +nightly fuzz build -O rylr998_at
cargo +nightly fuzz run -O rylr998_at -- -max_total_time="${HYPHAE_FUZZ_SECONDS:-10}" 2>&1 | tail -n 2
