#!/usr/bin/env bash
# Installs what the ONNX executor, the model export script and the ort benchmark need, when missing:
#   .ort/lib/libonnxruntime.so.1.31.1  the ONNX Runtime library ort loads (from PyPI's onnxruntime wheel)
#   .venv/                             Python with onnxruntime==1.31.1, onnx and numpy (reference + bench)
# Idempotent and quiet when everything is there; prints the library's path on its last line.
set -euo pipefail

ORT_VERSION=1.31.1
ONNX_VERSION=1.23.2
NUMPY_VERSION=2.3.5
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lib="$root/.ort/lib/libonnxruntime.so.$ORT_VERSION"
venv="$root/.venv"
py="$venv/bin/python"

have_python_pkgs() {
    [ -x "$py" ] && "$py" - <<PY 2>/dev/null
import onnx, numpy, onnxruntime
assert onnxruntime.__version__ == "$ORT_VERSION", onnxruntime.__version__
PY
}

if [ ! -f "$lib" ]; then
    mkdir -p "$root/.ort/wheels" "$root/.ort/lib"
    python3 -m pip download --quiet "onnxruntime==$ORT_VERSION" --no-deps \
        --only-binary=:all: -d "$root/.ort/wheels" >&2
    wheel="$(ls "$root"/.ort/wheels/onnxruntime-"$ORT_VERSION"-*.whl | head -n 1)"
    # The wheel is a zip; take the shared library out of its capi folder.
    python3 - "$wheel" "$root/.ort/lib" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime"):
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                out.write(src.read())
PY
fi
[ -f "$lib" ] || { echo "ensure-onnxruntime: $lib missing after extracting the wheel" >&2; exit 1; }

if ! have_python_pkgs; then
    [ -x "$py" ] || python3 -m venv "$venv"
    wheel="$(ls "$root"/.ort/wheels/onnxruntime-"$ORT_VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
    "$py" -m pip install --quiet --disable-pip-version-check \
        "${wheel:-onnxruntime==$ORT_VERSION}" "onnx==$ONNX_VERSION" "numpy==$NUMPY_VERSION" >&2
    have_python_pkgs || { echo "ensure-onnxruntime: $venv lacks onnxruntime/onnx/numpy" >&2; exit 1; }
fi

echo "$lib"
