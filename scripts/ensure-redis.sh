#!/usr/bin/env bash
# Installs redis-server (Debian package) when it is missing; quiet when it is there.
# The Redis store tests start their own redis-server on a free port, so they need the binary only.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "ensure-redis: installing redis-server" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package starts a system service on 6379; the tests never use it, so stop it where systemd
# is absent-safe (containers have no systemd: the service never started).
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
echo "ensure-redis: redis-server still missing after install" >&2
exit 1
