#!/usr/bin/env bash
# The Celery + Redis baseline of the `throughput` scenario (BENCHMARKS.md, "Throughput of the farm
# itself"). Makes loadtests/baselines/.venv with celery[redis] (requirements.txt) when it is
# missing, installs redis-server when it is missing, then runs celery_throughput.py with the
# arguments given (--help lists them). Prints the figures as JSON.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
    cp "$here/requirements.txt" "$stamp"
fi
command -v redis-server > /dev/null || bash "$root/scripts/ensure-redis.sh" >&2
exec "$venv/bin/python" "$here/celery_throughput.py" "$@"
