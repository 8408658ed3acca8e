#!/usr/bin/env bash
# The hostile-input run. Starts a real server, mints tokens for an attacker (user A), a victim
# (user B), an operator and a GPU node, seeds the victim's videos, then:
#   1. schemathesis (scripts/ensure-schemathesis.sh installs it) against /api/v1/openapi.json
#      with A's token (and a shorter pass with the operator's): no 5xx, responses conform to the
#      document (status codes, content types, schemas, headers), routes refuse a missing token;
#      half the generated `{id}`s are B's real video and shot ids;
#   2. ws_fuzz (loadtests/src/bin/ws_fuzz.rs): malformed and oversized handshakes and frames at
#      the progress websocket, the operator stream and /api/v1/agents/connect;
#   3. websocket abuse (ws_fuzz abuse, loadtests/src/ws_abuse.rs): ping and pong floods from a
#      client that never reads, a slow reader, fragmented and oversized frames, on the progress
#      socket and the operator stream; prints bytes sent and received, how and when the server
#      closed, and its RSS before and after each case;
#   4. leaks: nothing A received (the cassette of every schemathesis answer, every websocket
#      byte) names B's video ids, shot ids, titles or prompts; B's videos are unchanged;
#   5. the server is alive, answers /healthz, and logged no panic.
# Prints a summary; exits 1 on any finding.
# Usage: scripts/hostile.sh [--examples N] [--iterations N] [--release] [--abuse-only]
#   (defaults: 100 schemathesis examples per operation, 3 websocket fuzz rounds, debug build;
#   --abuse-only runs the websocket abuse pass and the server checks, nothing else)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

EXAMPLES=100
ITERATIONS=3
PROFILE=debug
ABUSE_ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
        --examples) EXAMPLES="$2"; shift 2 ;;
        --iterations) ITERATIONS="$2"; shift 2 ;;
        --release) PROFILE=release; shift ;;
        --abuse-only) ABUSE_ONLY=1; shift ;;
        *) echo "usage: scripts/hostile.sh [--examples N] [--iterations N] [--release] [--abuse-only]" >&2; exit 2 ;;
    esac
done

[ -n "$ABUSE_ONLY" ] || bash scripts/ensure-schemathesis.sh
ST="$root/.venv-hostile/bin/schemathesis"
if [ "$PROFILE" = release ]; then
    cargo build -q --release --bin shotfarm -p shotfarm --bin ws_fuzz -p shotfarm-load
else
    cargo build -q --bin shotfarm -p shotfarm --bin ws_fuzz -p shotfarm-load
fi
B="$root/target/$PROFILE/shotfarm"
FUZZ="$root/target/$PROFILE/ws_fuzz"

work="$(mktemp -d)"
export SHOTFARM_AUTH__SECRET="hostile-run-secret-$(date +%s%N)"
export SHOTFARM_EXECUTOR__DATA_DIR="$work/data"
export NO_COLOR=1 RUST_LOG="${RUST_LOG:-warn,shotfarm::http=info}"
"$B" serve --bind 127.0.0.1:0 > "$work/serve.out" 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null || true; wait $SP 2>/dev/null || true; [ -n "${HOSTILE_KEEP:-}" ] || rm -rf "$work"' EXIT
for _ in $(seq 200); do grep -q "serving on" "$work/serve.out" && break; sleep 0.05; done
BASE=$(grep -o "http://[0-9.:]*" "$work/serve.out" | head -1)
if [ -z "$BASE" ]; then cat "$work/serve.out" >&2; echo "hostile: the server did not start" >&2; exit 1; fi

# The attacker submits a long video of their own each fuzz round: a plan that allows it.
TA=$("$B" token --user attacker-a --plan unlimited)
TB=$("$B" token --user victim-b)
TO=$("$B" token --user ops --operator)
TN=$("$B" token --node fuzz-node-1)
TX=$("$B" token --user attacker-a --ttl 1s)

"$FUZZ" seed --base "$BASE" --user-b "$TB" --videos 2 --out "$work/secrets.json" \
    --schemathesis-config "$work/schemathesis.toml"

findings=0
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,ignored_auth,negative_data_rejection
run_st() { # NAME TOKEN EXAMPLES
    local seed
    for seed in 1 2; do
        echo "== schemathesis ($1, $3 examples per operation, seed $seed)"
        # The config aims half the `{id}` parameters at the victim's video and shot ids.
        if "$ST" --config-file "$work/schemathesis.toml" run "$BASE/api/v1/openapi.json" \
            --header "Authorization: Bearer $2" \
            --checks "$CHECKS" \
            --max-examples "$3" --seed "$seed" --workers 2 \
            --request-timeout 10 \
            --suppress-health-check all \
            --report vcr --report-vcr-path "$work/$1.cassette.yaml" \
            --no-color > "$work/$1.st.out" 2>&1; then
            tail -n 25 "$work/$1.st.out"
            return 0
        fi
        cat "$work/$1.st.out"
        # Failures are findings; errors of the tool itself (no FAILURES section) get one more try.
        if grep -q "= FAILURES =" "$work/$1.st.out" || [ "$seed" = 2 ]; then
            findings=$((findings + 1))
            echo "hostile: schemathesis ($1) reported failures or errors" >&2
            return 0
        fi
        echo "hostile: schemathesis ($1) failed with a tool error, not a finding: once more" >&2
    done
}
if [ -z "$ABUSE_ONLY" ]; then
    run_st attacker "$TA" "$EXAMPLES"
    run_st operator "$TO" $(( (EXAMPLES + 4) / 5 ))

    echo "== websocket fuzz ($ITERATIONS rounds)"
    if ! "$FUZZ" run --base "$BASE" --user-a "$TA" --user-b "$TB" --operator "$TO" --node "$TN" \
        --expired "$TX" --secrets "$work/secrets.json" --iterations "$ITERATIONS" \
        --scan "$work/attacker.cassette.yaml"; then
        findings=$((findings + 1))
    fi
fi

echo "== websocket abuse (floods, a slow reader, fragmented and oversized frames)"
echo "server RSS before the pass: $(awk '/VmRSS/ {print $2, $3}' "/proc/$SP/status")"
if ! "$FUZZ" abuse --base "$BASE" --user-a "$TA" --operator "$TO" --pid "$SP"; then
    findings=$((findings + 1))
fi
echo "server RSS after the pass: $(awk '/VmRSS/ {print $2, $3}' "/proc/$SP/status")"

echo "== the server"
if ! kill -0 "$SP" 2>/dev/null; then
    echo "FINDING: the server process died" >&2; findings=$((findings + 1))
elif ! curl -fsS "$BASE/healthz" > /dev/null; then
    echo "FINDING: /healthz does not answer" >&2; findings=$((findings + 1))
fi
if grep -n "panicked" "$work/serve.out" >&2; then
    echo "FINDING: the server logged a panic" >&2; findings=$((findings + 1))
fi
# The access log (target shotfarm::http, at info): "... INFO METHOD PATH STATUS TIMEms".
access=$(grep -cE ' INFO [A-Z]+ /[^ ]* [0-9]{3} [0-9.]+ms' "$work/serve.out" || true)
fives=$(grep -cE ' INFO [A-Z]+ /[^ ]* 5[0-9]{2} [0-9.]+ms' "$work/serve.out" || true)
echo "access log: $access request(s), $fives answered 5xx"
if [ "$access" -eq 0 ]; then
    echo "FINDING: no access log lines: the 5xx check cannot see (log format changed?)" >&2; findings=$((findings + 1))
fi
if [ "$fives" -ne 0 ]; then
    grep -E ' INFO [A-Z]+ /[^ ]* 5[0-9]{2} [0-9.]+ms' "$work/serve.out" | head -20 >&2
    echo "FINDING: the server answered $fives request(s) with a 5xx" >&2; findings=$((findings + 1))
fi

if [ "$findings" -ne 0 ]; then
    echo "hostile: $findings finding(s)" >&2
    exit 1
fi
echo "hostile: no findings (no 5xx, no crash, no leak across users)"
