#!/usr/bin/env bash
# The first thing to run on a lent GPU machine (see /work/.library/device/README.md): proves NVML
# telemetry, ort on CUDA against CPU, and per-shot VRAM attribution in one short call, from what
# scripts/gpu-bundle.sh put in gpu-bundle/ (carried with the working tree) or a local build.
#
#   scripts/gpu-check.sh              # on the device: NVML and the GPU, exit 1 naming each problem
#   scripts/gpu-check.sh --simulate   # anywhere: the same path on the simulated device (the tests)
#
# Writes to $OUT (default gpu-check-out/): gpu-check.json (every reading and the verdict), the
# agent's log, the config it ran, and nvidia-smi's own view where nvidia-smi exists.
# GPU_CHECK_BIN picks the binary; ORT_DYLIB_PATH the ONNX Runtime library (default: a CUDA-capable
# one from an installed onnxruntime-gpu when there is one, else the bundled CPU build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-$root/gpu-check-out}"
mkdir -p "$out"

bin="${GPU_CHECK_BIN:-}"
if [ -z "$bin" ]; then
    for b in "$root/gpu-bundle/shotfarm" "$root/target/release/shotfarm"; do
        if [ -x "$b" ]; then bin="$b"; break; fi
    done
fi
[ -n "$bin" ] && [ -x "$bin" ] || {
    echo "gpu-check: no shotfarm binary: run scripts/gpu-bundle.sh first, or set GPU_CHECK_BIN" >&2
    exit 2
}

if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    # An onnxruntime-gpu installed here has the CUDA provider beside its library; the bundle's
    # CPU build is the fallback (the check then says "cpu only").
    for py in python3 python; do
        capi="$("$py" -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))' 2>/dev/null || true)"
        if [ -n "$capi" ] && [ -f "$capi/libonnxruntime_providers_cuda.so" ]; then
            lib="$(ls "$capi"/libonnxruntime.so.* 2>/dev/null | head -n 1 || true)"
            if [ -n "$lib" ]; then export ORT_DYLIB_PATH="$lib"; break; fi
        fi
    done
fi
if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    for lib in "$root"/gpu-bundle/lib/libonnxruntime.so.* "$root"/.ort/lib/libonnxruntime.so.*; do
        if [ -f "$lib" ]; then export ORT_DYLIB_PATH="$lib"; break; fi
    done
fi
echo "gpu-check: binary $bin; ONNX Runtime ${ORT_DYLIB_PATH:-as the binary finds it}" >&2

if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -q -x >"$out/nvidia-smi.xml" 2>&1 || true
    nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
fi
{ uname -a; nproc; } >"$out/host.txt" 2>&1 || true

# Bounded well under the device's per-call limit, so a hang still leaves its files in $OUT.
exec timeout 240 "$bin" gpu-check --out "$out" "$@"
