# syntax=docker/dockerfile:1
# A GPU agent: `shotfarm agent` on a CUDA runtime with the GPU build of ONNX Runtime
# (deploy/base/agents-*.yaml). Build from the repository root:
#   docker build -f docker/agent.Dockerfile -t ghcr.io/OWNER/shotfarm-agent:0.1.0 .
# Tags: deploy/README.md ("Images").

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p shotfarm --bin shotfarm \
    && install -D -m 0755 target/release/shotfarm /out/shotfarm

# ONNX Runtime's GPU build, the version ort's api-31 binds (scripts/ensure-onnxruntime.sh takes
# the CPU build the same way): the shared libraries out of PyPI's onnxruntime-gpu wheel.
FROM python:3.12-slim-bookworm AS onnxruntime
ARG ORT_VERSION=1.31.1
RUN pip download --quiet --no-deps --only-binary=:all: -d /wheels "onnxruntime-gpu==${ORT_VERSION}" \
    && mkdir -p /ort \
    && python3 -c 'import glob, os, zipfile; z = zipfile.ZipFile(glob.glob("/wheels/onnxruntime_gpu-*.whl")[0]); [open(os.path.join("/ort", os.path.basename(n)), "wb").write(z.read(n)) for n in z.namelist() if n.startswith("onnxruntime/capi/libonnxruntime") and "tensorrt" not in n]' \
    && test -f "/ort/libonnxruntime.so.${ORT_VERSION}" \
    && test -f /ort/libonnxruntime_providers_cuda.so \
    && test -f /ort/libonnxruntime_providers_shared.so

# Ubuntu 24.04, not 22.04: the binary is linked on Debian bookworm (glibc 2.36), newer than
# 22.04's glibc 2.35. CUDA 12 with cuDNN 9 is what onnxruntime-gpu's CUDA provider loads.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS runtime
ARG ORT_VERSION=1.31.1
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates procps \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 shotfarm \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin shotfarm \
    && install -d -o 10001 -g 10001 /var/lib/shotfarm
COPY --from=build /out/shotfarm /usr/local/bin/shotfarm
COPY --from=onnxruntime /ort/ /opt/onnxruntime/lib/
# ort loads ONNX Runtime from here (load-dynamic); the CUDA provider beside it is found by its
# directory. The GPU driver and NVML come from the node through the NVIDIA container runtime.
ENV ORT_DYLIB_PATH=/opt/onnxruntime/lib/libonnxruntime.so.${ORT_VERSION} \
    LD_LIBRARY_PATH=/opt/onnxruntime/lib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HOME=/tmp
WORKDIR /opt/shotfarm
# The bundled model (config: models.tiny-video.onnx dir = "models/tiny-video", from here).
COPY models/tiny-video /opt/shotfarm/models/tiny-video
USER 10001:10001
# The agent serves no port: it dials the server. All this can honestly tell is that the agent
# process is PID 1 and alive (a `shotfarm agent` that gave up exits, and the container with it).
# Whether it is connected and healthy is the server's to judge: its heartbeats
# (agents.heartbeat_timeout) mark a silent agent lost and requeue its shots. Kubernetes ignores
# HEALTHCHECK; the Deployments have no liveness probe for the same reason.
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
    CMD ["pgrep", "-x", "shotfarm"]
ENTRYPOINT ["/usr/local/bin/shotfarm"]
CMD ["agent", "--help"]
