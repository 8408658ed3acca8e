#!/usr/bin/env bash
# Quick start, command 2: installs what the tests need when missing (each scripts/ensure-*.sh),
# then runs exactly what CI runs: format check, the crate layering check, clippy with -D warnings,
# and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/ensure-*.sh; do
  if [ -f "$s" ]; then bash "$s"; fi
done
cargo fmt --all --check
bash scripts/check-layers.sh
cargo clippy --workspace --all-targets -- -D warnings
# Every unit and integration test of every crate, through cargo-nextest (.config/nextest.toml:
# a process per test, every binary's tests in one pool of four). No doc-test pass: no crate has
# doc tests (add `cargo test --workspace --doc` when one does).
cargo nextest run --workspace
