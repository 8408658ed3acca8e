#!/usr/bin/env bash
# The layering the crate graph stands for (ARCHITECTURE.md), checked on what cargo resolves:
#   shotfarm-core   no actor system, async runtime, Redis, ort, NVML, HTTP client or server;
#   shotfarm-actors no Redis, ort, NVML, HTTP client or server (adapters are crates of their own);
#   shotfarm-objects (an adapter) no web layer, no other adapter: its port and the core only.
#   shotfarm-llm    an adapter: neither the web layer nor another adapter, nor an HTTP server.
#   shotfarm-media  (an adapter) none of the other adapters, the web layer or what they wrap:
#                   it runs the ffmpeg binary and needs only the ports.
# Fails naming the crate and what it pulls in. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
check() {
    local package="$1"; shift
    local tree
    tree="$(cargo tree -p "$package" -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)"
    for banned in "$@"; do
        if grep -qx "$banned" <<<"$tree"; then
            echo "check-layers: $package depends on $banned (cargo tree -p $package -e normal -i $banned shows how)" >&2
            fail=1
        fi
    done
}

check shotfarm-core actix tokio redis ort nvml-wrapper reqwest actix-web
check shotfarm-actors redis ort nvml-wrapper reqwest actix-web object_store
check shotfarm-objects shotfarm-web shotfarm-redis shotfarm-onnx shotfarm-nvml shotfarm-kubernetes \
    shotfarm-llm shotfarm-media actix-web redis ort
check shotfarm-llm shotfarm-web shotfarm-redis shotfarm-onnx shotfarm-nvml shotfarm-kubernetes \
    shotfarm-objects shotfarm-media actix-web redis ort
check shotfarm-media redis ort nvml-wrapper reqwest actix-web kube object_store \
    shotfarm-redis shotfarm-onnx shotfarm-nvml shotfarm-kubernetes shotfarm-web shotfarm-objects

if [ "$fail" -ne 0 ]; then
    exit 1
fi
echo "check-layers: core, actors and the objects, llm and media adapters keep their layers"
