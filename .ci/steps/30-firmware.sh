#!/usr/bin/env bash
# ESP32-C3 firmware (issue 7): build every firmware of firmware/esp32c3 for
# riscv32imc-unknown-none-elf in release, report flash image size and static RAM with
# llvm-size-14, and fail if a firmware's static RAM exceeds the budget stated in README.md
# ("ESP32-C3 firmware"). One cargo workspace, so all firmwares share one target dir.
set -euo pipefail
# The firmware workspace keeps its own target dir (paths below assume it).
unset CARGO_TARGET_DIR
cd "$(dirname "$0")/../../firmware/esp32c3"

# Static RAM budget per firmware (IRAM + DRAM: .trap/.rwtext* + .data* + .bss, which includes
# the 72 KiB Wi-Fi heap). Keep in sync with README.md.
RAM_BUDGET=$((192 * 1024))
TARGET=riscv32imc-unknown-none-elf
OUT=target/$TARGET/release
SIZE=${LLVM_SIZE:-llvm-size-14}

command -v "$SIZE" >/dev/null || { echo "$SIZE missing (apt-get install llvm-14)" >&2; exit 1; }
rustup target add "$TARGET" >/dev/null 2>&1 || true

build() { # build <cargo args...>; fails on a warning from hyphae's own firmware crates
  local log
  log=$(mktemp)
  # Not --locked: the firmware lock pins the esp-* crates, but the host crates it depends on by
  # path (hyphae-core, hyphae-wire, hyphae-link-bridge) may gain dependencies in a commit that
  # does not touch it. Cargo then adds entries without moving existing pins; reported below.
  cargo build --release "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { rm -f "$log"; exit "$rc"; }
  # Warnings are attributed per package in cargo's summary lines.
  if grep -E '^warning: `hyphae-(fw-[a-z]+|link-bridge)` \(' "$log"; then
    echo "firmware build has warnings" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}

# measure <label> <elf>: prints one table row and checks the budget.
fail=0
measure() {
  local label=$1 elf=$2
  read -r flash iram dram stack < <("$SIZE" -A "$elf" | awk '
    NF == 3 { s[$1] = $2 }
    END {
      iram = s[".trap"] + s[".rwtext"] + s[".rwtext.wifi"]
      dram = s[".data"] + s[".data.wifi"] + s[".bss"] + s[".noinit"]
      flash = s[".text"] + s[".rodata"] + s[".rodata.wifi"] + iram + s[".data"] + s[".data.wifi"] + s[".flash.appdesc"]
      print flash, iram, dram, s[".stack"]
    }')
  local ram=$((iram + dram))
  local verdict=ok
  if [ "$ram" -gt "$RAM_BUDGET" ]; then verdict="OVER BUDGET"; fail=1; fi
  printf '| %-16s | %9d | %7d | %7d | %9d | %9d | %s |\n' "$label" "$flash" "$iram" "$dram" "$ram" "$stack" "$verdict"
  echo "$label $flash $ram $stack" >> "$ROWS"
}

# The node firmware's hardware-free logic (sensor app over the real core, identity record) runs
# its tests on the host.
HOST=$(rustc -vV | sed -n 's/^host: //p')
cargo test -p hyphae-fw-logic --target "$HOST"

ROWS=$(mktemp)
start=$(date +%s)
build --workspace
# Variants (node features `sleepy` and `lab-insecure`, bridge feature `uart`) only rebuild their
# own crate; their ELFs are kept under another name and the default builds restored afterwards.
build -p hyphae-fw-node --features sleepy
cp "$OUT/hyphae-fw-node" "$OUT/hyphae-fw-node-sleepy"
build -p hyphae-fw-node --features lab-insecure
cp "$OUT/hyphae-fw-node" "$OUT/hyphae-fw-node-lab"
build -p hyphae-fw-bridge --features uart
cp "$OUT/hyphae-fw-bridge" "$OUT/hyphae-fw-bridge-uart"
build -p hyphae-fw-node -p hyphae-fw-bridge
echo "firmware builds: $(( $(date +%s) - start )) s"
if ! git diff --quiet -- Cargo.lock 2>/dev/null; then
  echo "note: firmware/esp32c3/Cargo.lock was out of date (a path dependency changed); commit the update:"
  git diff --stat -- Cargo.lock || true
fi

echo
echo "Static RAM budget: $RAM_BUDGET B per firmware (72 KiB Wi-Fi heap included)"
echo "| firmware         | flash (B) | IRAM(B) | DRAM(B) | static RAM | RAM left  | budget |"
echo "|------------------|-----------|---------|---------|------------|-----------|--------|"
measure baseline "$OUT/hyphae-fw-baseline"
measure bridge "$OUT/hyphae-fw-bridge"
measure bridge-uart "$OUT/hyphae-fw-bridge-uart"
measure node "$OUT/hyphae-fw-node"
measure node-sleepy "$OUT/hyphae-fw-node-sleepy"
measure node-lab "$OUT/hyphae-fw-node-lab"
echo
# hyphae's own cost over the bare ESP-NOW baseline.
awk 'NR == 1 { bf = $2; br = $3 } NR > 1 { printf "%s: +%d B flash, +%d B static RAM over the bare ESP-NOW baseline\n", $1, $2 - bf, $3 - br }' "$ROWS"
# What security costs the node: the secure default against the lab-insecure build.
awk '$1 == "node" { f = $2; r = $3 } $1 == "node-lab" { printf "security (node - node-lab): %+d B flash, %+d B static RAM\n", f - $2, r - $3 }' "$ROWS"
rm -f "$ROWS"
echo "(flash = .text + .rodata* + .rwtext* + .trap + .data* + .flash.appdesc, as espflash's image holds them;"
echo " RAM left = the .stack region: SRAM not statically allocated.)"
[ "$fail" -eq 0 ] || { echo "static RAM over budget" >&2; exit 1; }
