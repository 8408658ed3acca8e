#!/usr/bin/env bash
# Installs redis-server (Debian package) when it is missing; quiet when it is there.
# The Redis tests and benchmark start their own redis-server on a free port, so they need only the
# binary: the service the package may start is not used.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "ensure-redis: installing redis-server" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends redis-server; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-redis: apt-get failed" >&2
    exit 1
fi
if ! command -v redis-server >/dev/null 2>&1; then
    echo "ensure-redis: redis-server still missing after install" >&2
    exit 1
fi
