# syntax=docker/dockerfile:1
# The API server: `shotfarm serve` (deploy/base/server.yaml). Build from the repository root:
#   docker build -f docker/server.Dockerfile -t ghcr.io/OWNER/shotfarm-server:0.1.0 .
# Tags: deploy/README.md ("Images").

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p shotfarm --bin shotfarm \
    && install -D -m 0755 target/release/shotfarm /out/shotfarm

# The server loads ONNX Runtime at start whenever a model has an `onnx` entry (the executor is built
# for the whole config, local nodes or not): the CPU build of the version ort's api-31 binds, the
# shared library out of PyPI's onnxruntime wheel, as scripts/ensure-onnxruntime.sh takes it.
FROM python:3.12-slim-bookworm AS onnxruntime
ARG ORT_VERSION=1.31.1
RUN pip download --quiet --no-deps --only-binary=:all: -d /wheels "onnxruntime==${ORT_VERSION}" \
    && mkdir -p /ort \
    && python3 -c 'import glob, os, zipfile; z = zipfile.ZipFile(glob.glob("/wheels/onnxruntime-*.whl")[0]); [open(os.path.join("/ort", os.path.basename(n)), "wb").write(z.read(n)) for n in z.namelist() if n.startswith("onnxruntime/capi/libonnxruntime")]' \
    && test -f "/ort/libonnxruntime.so.${ORT_VERSION}"

FROM debian:bookworm-slim AS runtime
ARG ORT_VERSION=1.31.1
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 shotfarm \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin shotfarm \
    && install -d -o 10001 -g 10001 /var/lib/shotfarm
COPY --from=build /out/shotfarm /usr/local/bin/shotfarm
COPY --from=onnxruntime /ort/ /opt/onnxruntime/lib/
ENV ORT_DYLIB_PATH=/opt/onnxruntime/lib/libonnxruntime.so.${ORT_VERSION}
# The bundled model's files: config names them relative to the working directory (models/tiny-video).
WORKDIR /opt/shotfarm
COPY models/tiny-video /opt/shotfarm/models/tiny-video
USER 10001:10001
EXPOSE 8080
ENV SHOTFARM_SERVER__BIND=0.0.0.0:8080
# /healthz answers while the process serves HTTP; readiness (/readyz: store reachable) is the
# orchestrator's business (the Deployment's readinessProbe), not a reason to restart the container.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/shotfarm"]
CMD ["serve", "--config", "/etc/shotfarm/shotfarm.toml"]
