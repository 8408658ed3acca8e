#!/usr/bin/env bash
# The farm's own throughput beside the seed's stack shape (BENCHMARKS.md, "Throughput of the farm
# itself"): builds shotfarm and the load driver in release, then runs `shotfarm-load throughput`
# with the arguments given (default 3 rounds of: the `throughput` scenario in memory, the same on a
# fresh redis-server, the Celery + Redis baseline on another), and prints the medians and ratios.
# Usage: scripts/throughput.sh [--runs N] [--duration S] [--videos N] [--no-baseline] [--out DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-redis.sh
cargo build --quiet --release -p shotfarm --bin shotfarm -p shotfarm-load --bin shotfarm-load
exec "${CARGO_TARGET_DIR:-target}/release/shotfarm-load" throughput "$@"
