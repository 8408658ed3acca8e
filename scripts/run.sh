#!/usr/bin/env bash
# Quick start, command 1: builds shotfarm and serves the embedded default (in-memory store, local
# simulated GPU nodes), printing the URL and ready-to-use tokens. Extra arguments go to `serve`,
# e.g. scripts/run.sh --config config/seed-scenario-b.toml. Beyond loopback (--bind 0.0.0.0:8080) it
# needs keys of your own (SHOTFARM_AUTH__SECRET, SHOTFARM_SECURITY__MASTER_KEY=$(openssl rand -hex 32)):
# it refuses the shipped development ones there.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the server itself needs at run time (the ONNX Runtime library, once models run through ort;
# ffmpeg, which encodes a story video's clips and stitches them into its MP4).
for s in scripts/ensure-onnxruntime.sh scripts/ensure-ffmpeg.sh; do
  if [ -f "$s" ]; then bash "$s" >/dev/null; fi
done
cargo build --release --bin shotfarm
# Where cargo put it: CARGO_TARGET_DIR when set (as scripts/throughput.sh reads it), else target/.
exec "${CARGO_TARGET_DIR:-target}/release/shotfarm" serve "$@"
