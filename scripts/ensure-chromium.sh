#!/usr/bin/env bash
# Installs what the browser tests (tests/it/progress_page.rs, dashboard_page.rs) need when it is
# missing: Debian's chromium, Node.js with npm, and the test driver's npm packages (tests/browser,
# from its committed package-lock.json). Quiet and quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "ensure-chromium: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Reinstall the driver's packages when they are absent or older than the lock file.
browser=tests/browser
marker="$browser/node_modules/.package-lock.json"
if [ ! -f "$marker" ] || [ "$browser/package-lock.json" -nt "$marker" ]; then
    echo "ensure-chromium: npm ci in $browser" >&2
    npm ci --prefix "$browser" --no-audit --no-fund --loglevel=error >/dev/null
fi

if command -v chromium >/dev/null 2>&1 && [ -d "$browser/node_modules/playwright-core" ]; then
    exit 0
fi
echo "ensure-chromium: chromium or playwright-core still missing after install" >&2
exit 1
