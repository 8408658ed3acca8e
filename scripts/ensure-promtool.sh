#!/usr/bin/env bash
# Installs promtool (Debian's prometheus package) when it is missing; quiet when it is there.
# The tests check and unit-test the alert rules in deploy/monitoring with it; the Prometheus
# service the package may start is not used.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "ensure-promtool: installing prometheus (for promtool)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-promtool: apt-get failed" >&2
    exit 1
fi
if ! command -v promtool >/dev/null 2>&1; then
    echo "ensure-promtool: promtool still missing after install" >&2
    exit 1
fi
