#!/usr/bin/env bash
# Installs what tests/it/deploy_manifests.rs renders and validates deploy/ with, when missing;
# quiet when they are there:
#   kubectl (its embedded kustomize): Debian's kubernetes-client when there is no kubectl at all
#   kubernetes-validate (PyPI) in .venv-deploy/: the Kubernetes JSON schemas, offline
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=".venv-deploy"
VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"

. scripts/lib/apt.sh
ensure_command kubectl kubernetes-client ensure-deploy-tools

if [ -x "$VENV/bin/kubernetes-validate" ] \
    && [ "$("$VENV/bin/kubernetes-validate" --version 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv' >/dev/null 2>&1; then
    echo "ensure-deploy-tools: python3 is missing (install python3 and python3-venv)" >&2
    exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "ensure-deploy-tools: installing kubernetes-validate $VERSION into $VENV" >&2
if ! { python3 -m venv --clear "$VENV" \
        && "$VENV/bin/pip" install --quiet --upgrade pip \
        && "$VENV/bin/pip" install --quiet "kubernetes-validate==$VERSION"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-deploy-tools: install failed" >&2
    exit 1
fi
if [ "$("$VENV/bin/kubernetes-validate" --version 2>/dev/null)" != "$VERSION" ]; then
    echo "ensure-deploy-tools: kubernetes-validate $VERSION still missing after install" >&2
    exit 1
fi
