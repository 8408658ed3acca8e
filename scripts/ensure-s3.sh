#!/usr/bin/env bash
# Installs s3s-fs, the S3-compatible server the artifact-store tests start on a free port
# (adapters/objects, tests/it/artifacts_*.rs), into .tools/ (git-ignored) when it is missing.
# Built from crates.io once (a few minutes); pinned to the newest release whose rust-version this
# toolchain meets (0.15 and later need Rust 1.96). README.md says why this server.
set -euo pipefail
cd "$(dirname "$0")/.."
version="0.14.1"
bin=".tools/s3s-fs-$version/bin/s3s-fs"
if [ -x "$bin" ]; then
    exit 0
fi
echo "ensure-s3: installing s3s-fs $version from crates.io into .tools/" >&2
log="$(mktemp)"
if ! cargo install --locked --quiet s3s-fs --version "=$version" --features binary \
    --root ".tools/s3s-fs-$version" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "ensure-s3: cargo install s3s-fs failed" >&2
    exit 1
fi
rm -f "$log"
