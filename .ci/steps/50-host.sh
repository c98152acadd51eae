#!/usr/bin/env bash
# Host node, gateway and demo (issue 9). The Mosquitto and multi-process tests already ran in
# `cargo test --workspace` (HYPHAE_CI=1 makes a missing Mosquitto a failure). Here: the README's
# first command as a smoke test, and the gateway throughput figure against Mosquitto.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(cargo run --release --locked -q -p hyphae -- demo --duration 10 --quiet)
echo "$out" | tail -n 3
heard=$(echo "$out" | tail -n 2 | head -n 1 | sed -n 's/.*devices heard \([0-9]*\)\/.*/\1/p')
[ "${heard:-0}" -ge 40 ] || { echo "demo: only ${heard:-0} devices reached MQTT" >&2; exit 1; }

cargo run --release --locked -q -p hyphae-mqtt --example throughput 20000
