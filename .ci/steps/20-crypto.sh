#!/usr/bin/env bash
# hyphae-crypto: bare-metal builds with and without the AES-CCM suite, the riscv32imc size probe
# (fails if the whole crate grows past a budget), and a smoke run of the crypto fuzz targets.
# Figures and the full cost/size tables: docs/BENCHMARKS.md, "Security (issue 6)".
set -euo pipefail
cd "$(dirname "$0")/../.."

for target in riscv32imc-unknown-none-elf thumbv7em-none-eabihf; do
  cargo build --release --locked --target "$target" -p hyphae-crypto
  cargo build --release --locked --target "$target" -p hyphae-crypto --no-default-features
done

# Flash budget on riscv32imc with compact SHA-2: everything linked must stay under 80 KB
# (measured 67 600 B on 2026-11-22).
out=$(crates/hyphae-crypto/scripts/size.sh compact)
echo "$out"
total=$(echo "$out" | awk '/^chacha ccm verify sign handshake/ { print $(NF-1) }')
[ -n "$total" ] && [ "$total" -lt 81920 ] || { echo "hyphae-crypto flash budget exceeded: $total" >&2; exit 1; }

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
for t in crypto_handshake crypto_open; do
  cargo +nightly fuzz build -O "$t"
  cargo +nightly fuzz run -O "$t" -- -max_total_time="${HYPHAE_FUZZ_SECONDS:-10}" -max_len=300 2>&1 | tail -n 2
done
