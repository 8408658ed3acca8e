#!/usr/bin/env bash
# Installs cargo-nextest, the test runner scripts/test.sh uses, when it is missing (it comes with
# this project's machines; elsewhere it is built from crates.io, a few minutes once).
set -euo pipefail
if cargo nextest --version >/dev/null 2>&1; then
    exit 0
fi
echo "ensure-nextest: installing cargo-nextest from crates.io" >&2
cargo install --locked cargo-nextest
