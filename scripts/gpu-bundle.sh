#!/usr/bin/env bash
# Builds what a lent GPU machine needs for scripts/gpu-check.sh and puts it in gpu-bundle/ (git
# ignores it; the device tool carries it: `run` with carry ["gpu-bundle"]): the release shotfarm
# binary, stripped, and the ONNX Runtime library. The models and scripts are tracked and travel
# with the working tree. Lists every file with its size and fails past the 64 MiB carry limit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
limit=$((64 * 1024 * 1024))

cargo build --release -p shotfarm --bin shotfarm
lib="$(bash scripts/ensure-onnxruntime.sh | tail -n 1)"

rm -rf gpu-bundle
mkdir -p gpu-bundle/lib
cp "${CARGO_TARGET_DIR:-target}/release/shotfarm" gpu-bundle/shotfarm
strip gpu-bundle/shotfarm 2>/dev/null || echo "gpu-bundle: strip is missing; the binary stays unstripped" >&2
cp "$lib" gpu-bundle/lib/
shared="$(dirname "$lib")/libonnxruntime_providers_shared.so"
if [ -f "$shared" ]; then cp "$shared" gpu-bundle/lib/; fi

total=0
while IFS= read -r f; do
    size=$(stat -c %s "$f")
    total=$((total + size))
    printf '%10d  %s\n' "$size" "$f"
done < <(find gpu-bundle -type f | sort)
printf '%10d  total (limit %d)\n' "$total" "$limit"
if [ "$total" -gt "$limit" ]; then
    echo "gpu-bundle: $total bytes is over the 64 MiB the device tool carries" >&2
    exit 1
fi
echo 'carry: ["gpu-bundle"]; on the device: bash scripts/gpu-check.sh'
