#!/usr/bin/env bash
# Remote agents on loopback, timed from the processes' own log timestamps (build first:
# `cargo build --bin shotfarm`; this uses target/debug/shotfarm):
#   join: the agent's "agent starting" -> the server's "agent connected" (dial, hello, register)
#   loss: just before SIGKILL (an upper bound) -> the server's "agent lost" (close seen, node lost)
# Trial 1 also runs a shot and prints what GET /api/v1/nodes shows of the agent's GPUs, and the
# agent's telemetry-source line. Usage: scripts/bench-agents.sh [TRIALS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="$root/target/debug/shotfarm"
export SHOTFARM_AUTH__SECRET=bench-secret-of-enough-length SHOTFARM_NODE_GROUPS='[]'
export SHOTFARM_TIMING__TIME_FACTOR=0.02 NO_COLOR=1 RUST_LOG=info
work="$(mktemp -d)"
cd "$work"
"$B" serve --bind 127.0.0.1:0 > serve.out 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "serving on" serve.out && break; sleep 0.05; done
BASE=$(grep -o "http://[0-9.:]*" serve.out | head -1)
OPS=$("$B" token --user ops --operator)
USER=$("$B" token --user alice)
ts() { python3 -c "import sys,datetime;print(datetime.datetime.fromisoformat(sys.argv[1].rstrip('Z')[:26]).timestamp())" "$1"; }
for i in $(seq "${1:-9}"); do
  TOK=$("$B" token --node "bench-$i")
  "$B" agent --server "$BASE" --token "$TOK" --gpus 2 > "agent-$i.log" 2>&1 &
  AP=$!
  until grep -q "agent connected node_id=bench-$i " serve.out; do sleep 0.01; done
  if [ "$i" = 1 ]; then
    grep -m1 "telemetry is simulated" agent-1.log || true
    curl -s -H "Authorization: Bearer $USER" -H 'content-type: application/json' \
      -d '{"shots":[{"prompt":"a fox in snow"}]}' "$BASE/api/v1/videos" > /dev/null
    sleep 2.5
    curl -s -H "Authorization: Bearer $OPS" "$BASE/api/v1/nodes" | python3 -c \
      "import json,sys;[print(json.dumps(g['telemetry'])) for n in json.load(sys.stdin)['nodes'] for g in n['gpus']]"
  fi
  tk=$(date +%s.%N)
  kill -9 $AP
  wait $AP 2>/dev/null || true
  until grep -q "agent lost.*node_id=bench-$i " serve.out; do sleep 0.01; done
  s=$(ts "$(grep -m1 'agent starting' "agent-$i.log" | cut -d' ' -f1)")
  c=$(ts "$(grep -m1 "agent connected node_id=bench-$i " serve.out | cut -d' ' -f1)")
  l=$(ts "$(grep -m1 "agent lost.*node_id=bench-$i " serve.out | cut -d' ' -f1)")
  python3 -c "print(f'trial $i join_ms={($c-$s)*1000:.1f} loss_ms={($l-$tk)*1000:.1f}')"
done
