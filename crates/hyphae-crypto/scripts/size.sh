#!/usr/bin/env bash
# Flash cost of hyphae-crypto on riscv32imc (ESP32-C3): builds size-probe (a bare-metal binary,
# opt-level "s", fat LTO, panic abort) with each feature set and prints .text + .rodata + .data
# from llvm-size-14, and the delta against the empty probe. Run from the repository root.
# `size.sh compact` adds --cfg sha2_backend_soft="compact" (a rolled SHA-2 loop, what firmware
# should use: SHA-512's unrolled compression alone is ~50 KB on riscv32).
set -euo pipefail
T="${CARGO_TARGET_DIR:-target}/size"
if [ "${1:-}" = compact ]; then
  export RUSTFLAGS='--cfg sha2_backend_soft="compact"'
  T="$T-compact"
fi
cd crates/hyphae-crypto/size-probe
flash() {
  CARGO_TARGET_DIR="$T" cargo build -q --release --target riscv32imc-unknown-none-elf --features "$1"
  llvm-size-14 -A "$T/riscv32imc-unknown-none-elf/release/hyphae-crypto-size-probe" \
    | awk '$1 ~ /^\.(text|rodata|srodata|data|sdata)/ { s += $2 } END { print s }'
}
base=$(flash "")
printf '%-40s %8s %8s\n' "linked" "bytes" "delta"
printf '%-40s %8d %8d\n' "(empty probe)" "$base" 0
for f in "chacha" "ccm" "chacha ccm" "chacha verify" "chacha verify sign" \
         "chacha verify sign handshake" "chacha ccm verify sign handshake"; do
  b=$(flash "$f")
  printf '%-40s %8d %8d\n' "$f" "$b" $((b - base))
done
