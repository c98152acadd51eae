#!/usr/bin/env bash
# Instructions per operation under callgrind: (Ir(101 runs) - Ir(1 run)) / 100, which removes
# process start-up and setup. Run from the repository root.
#   crates/hyphae-crypto/scripts/cost.sh          host backends (AES-NI, AVX2, SIMD curve)
#   crates/hyphae-crypto/scripts/cost.sh soft     portable software backends, 32-bit curve
#                                                 arithmetic: the code an ESP32-C3 runs
#   crates/hyphae-crypto/scripts/cost.sh compact  as soft, plus the rolled (compact) SHA-2
set -euo pipefail
T="${CARGO_TARGET_DIR:-target}"
SOFT='--cfg aes_backend="soft" --cfg chacha20_backend="soft" --cfg poly1305_backend="soft" --cfg curve25519_dalek_backend="serial" --cfg curve25519_dalek_bits="32"'
case "${1:-}" in
  soft) export RUSTFLAGS="$SOFT"; T="$T/soft" ;;
  compact) export RUSTFLAGS="$SOFT --cfg sha2_backend_soft=\"compact\""; T="$T/compact" ;;
esac
CARGO_TARGET_DIR="$T" cargo build --release -q -p hyphae-crypto --example cost
bin="$T/release/examples/cost"
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-14s %12s\n' operation instructions
for op in seal-chacha open-chacha seal-ccm open-ccm sign verify credential x25519 handshake; do
  a=$(ir "$op" 1); b=$(ir "$op" 101)
  printf '%-14s %12d\n' "$op" $(( (b - a) / 100 ))
done
