#!/usr/bin/env bash
# Installs redis-server (Debian package) when it is missing; quiet when it is there.
# The Redis tests and benchmark start their own redis-server on a free port, so they need only the
# binary: the service the package may start is not used.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
ensure_command redis-server redis-server ensure-redis
