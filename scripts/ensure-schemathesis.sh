#!/usr/bin/env bash
# Installs schemathesis (from PyPI) into .venv-hostile/ when it is missing; quiet when it is there.
# scripts/hostile.sh and tests/it/hostile_input.rs run it from there against a real server.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=".venv-hostile"
VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"

if [ -x "$VENV/bin/schemathesis" ] && "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    exit 0
fi

# Python 3.12 or later where there is one: 3.11's ast.parse can fail inside Hypothesis with
# "AST constructor recursion depth mismatch" (a CPython bug), which schemathesis reports as an error.
PY=""
for p in python3.13 python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import venv' >/dev/null 2>&1; then PY="$p"; break; fi
done
if [ -z "$PY" ]; then
    echo "ensure-schemathesis: python3 is missing (install python3 and python3-venv)" >&2
    exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "ensure-schemathesis: installing schemathesis $VERSION into $VENV" >&2
if ! { "$PY" -m venv --clear "$VENV" \
        && "$VENV/bin/pip" install --quiet --upgrade pip \
        && "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-schemathesis: install failed" >&2
    exit 1
fi
if ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    echo "ensure-schemathesis: schemathesis still missing after install" >&2
    exit 1
fi
