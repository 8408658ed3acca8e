#!/usr/bin/env bash
# Installs promtool (Debian's prometheus package) when it is missing; quiet when it is there.
# The tests check and unit-test the alert rules in deploy/monitoring with it; the Prometheus
# service the package may start is not used.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
ensure_command promtool prometheus ensure-promtool
