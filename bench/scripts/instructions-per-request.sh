#!/usr/bin/env bash
# Instructions the server executes per request, counted by callgrind: unlike CPU time, the
# count does not move with the machine's load, so two builds compare exactly (docs/benchmarks.md).
#
#   bench/scripts/instructions-per-request.sh [WORKLOAD ...]     (default: list update)
#
# Needs: valgrind and a profiling build (cargo build --profile profiling -p cogsync -p
# cogsync-bench). SERVER_BIN names another server binary; DATABASE_URL measures PostgreSQL
# (the database's own instructions are not counted). For each workload the benchmark starts
# the server under callgrind with instrumentation off; once the workload's clients are ready,
# it is switched on for WINDOW seconds (default 6) and the instructions counted are
# divided by the requests the benchmark reports for that rate and window.
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVER_BIN=$(realpath "${SERVER_BIN:-target/profiling/cogsync}")
BENCH=target/profiling/cogsync-bench
WINDOW=${WINDOW:-6}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
[ $# -gt 0 ] || set -- list update

cat >"$WORK/server" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$WORK/callgrind.out \
    "$SERVER_BIN" "\$@"
EOF
chmod +x "$WORK/server"

db_args=()
[ -n "${DATABASE_URL:-}" ] && db_args=(--database-url "$DATABASE_URL")

for workload in "$@"; do
    rm -f "$WORK"/callgrind.out*
    duration=$((WINDOW + 10))
    "$BENCH" --server-bin "$WORK/server" "${db_args[@]}" --workloads "$workload" \
        --duration "$duration" >"$WORK/bench.out" 2>&1 &
    bench=$!
    until grep -q "running $workload " "$WORK/bench.out"; do
        kill -0 $bench 2>/dev/null || { cat "$WORK/bench.out"; exit 1; }
        sleep 0.2
    done
    # The clients get ready (sessions, their datasets) before the timed run: leave them time.
    sleep 4
    # (callgrind_control with no process named acts on every callgrind run: only this one.)
    callgrind_control -i on >/dev/null
    sleep "$WINDOW"
    callgrind_control -i off >/dev/null
    callgrind_control -d >/dev/null
    wait $bench
    rate=$(awk -v w="$workload" '$1 == w { print $2 }' "$WORK/bench.out")
    instructions=$(cat "$WORK"/callgrind.out* | awk '/^totals:/ { s += $2 } END { print s }')
    awk -v w="$workload" -v i="$instructions" -v r="$rate" -v t="$WINDOW" \
        'BEGIN { printf "%-12s %8d req/s under callgrind  %10.0f instructions per request\n", w, r, i / (r * t) }'
done
