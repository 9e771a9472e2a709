#!/usr/bin/env bash
# The migration figures in docs/benchmarks.md: export and import of a generated store of
# IDENTITIES identities x RECORDS records (default 100,000 x 10), on SQLite and, with
# DATABASE_URL set (an empty database it may fill), PostgreSQL; then an import from a local
# cogsync source of SOURCE_IDENTITIES identities (default 2,000) through its API.
# Needs: a release build (cargo build --release -p cogsync), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=target/release/cogsync
IDENTITIES=${IDENTITIES:-100000}
RECORDS=${RECORDS:-10}
SOURCE_IDENTITIES=${SOURCE_IDENTITIES:-2000}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# An export file (the documented format), written by a script, not by cogsync.
python3 - "$WORK/generated.jsonl" "$IDENTITIES" "$RECORDS" <<'PY'
import json, sys, uuid
path, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pool = "us-east-1:00000000-0000-4000-8000-000000000000"
counts = {"secrets": 0, "pools": 1, "identities": n, "datasets": n, "records": n * m}
with open(path, "w") as f:
    w = lambda o: f.write(json.dumps(o, separators=(",", ":")) + "\n")
    w({"format": "cogsync-export", "version": 1})
    w({"pool": {"id": pool, "name": "bench", "allow_unauthenticated": True,
                "developer_provider_name": None, "members": {}, "created_ms": 1,
                "settings": {"version": 0, "push_sync": None, "cognito_streams": None, "events": {}},
                "bulk_publish": None}})
    for i in range(n):
        ident = "us-east-1:" + str(uuid.UUID(int=i + 1))
        w({"identity": {"id": ident, "pool_id": pool, "created_ms": 2, "last_modified_ms": 2,
                        "logins": [], "devices": []}})
        records = [{"key": f"key{k}", "value": f"value {k} of {i}", "sync_count": 1,
                    "last_modified_ms": 3, "last_modified_by": ident,
                    "device_last_modified_ms": 3} for k in range(m)]
        w({"dataset": {"identity_id": ident, "name": "settings", "live": True, "sync_count": 1,
                       "creation_ms": 3, "last_modified_ms": 3, "last_modified_by": ident,
                       "data_storage": 200, "num_records": m, "deleted_at_sync_count": None,
                       "merged_into": None, "records": records}})
    w({"end": counts})
PY
echo "generated: $IDENTITIES identities x $RECORDS records, $(du -h "$WORK/generated.jsonl" | cut -f1)"

timed() { # label, command...
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > /dev/null 2>&1
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{sys.argv[3]}: {s:.1f} s, {int(sys.argv[4])/s:,.0f} identities/s, {int(sys.argv[4])*int(sys.argv[5])/s:,.0f} records/s')" \
    "$start" "$end" "$label" "$IDENTITIES" "$RECORDS"
}

timed "SQLite import --input" "$BIN" import --input "$WORK/generated.jsonl" --data-dir "$WORK/sqlite"
timed "SQLite export" "$BIN" export --output "$WORK/sqlite.jsonl" --data-dir "$WORK/sqlite"
if [ -n "${DATABASE_URL:-}" ]; then
  timed "PostgreSQL import --input" "$BIN" import --input "$WORK/sqlite.jsonl" --database-url "$DATABASE_URL" --data-dir "$WORK/pg"
  timed "PostgreSQL export" "$BIN" export --output "$WORK/pg.jsonl" --database-url "$DATABASE_URL" --data-dir "$WORK/pg"
  cmp "$WORK/sqlite.jsonl" "$WORK/pg.jsonl" && echo "SQLite and PostgreSQL exports are identical"
fi

# A live source: a cogsync serving the first SOURCE_IDENTITIES identities.
head -n $((SOURCE_IDENTITIES * 2 + 2)) "$WORK/generated.jsonl" > "$WORK/source.jsonl"
echo "{\"end\":{\"secrets\":0,\"pools\":1,\"identities\":$SOURCE_IDENTITIES,\"datasets\":$SOURCE_IDENTITIES,\"records\":$((SOURCE_IDENTITIES * RECORDS))}}" >> "$WORK/source.jsonl"
"$BIN" import --input "$WORK/source.jsonl" --data-dir "$WORK/source" > /dev/null 2>&1
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
COGSYNC_ACCESS_KEY_ID=AKIDBENCHMIGRATION01 COGSYNC_SECRET_ACCESS_KEY=bench-secret \
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/source" > "$WORK/source.log" 2>&1 &
for _ in $(seq 1 50); do curl -s "http://127.0.0.1:$PORT/" > /dev/null && break; sleep 0.1; done
IDENTITIES=$SOURCE_IDENTITIES
for c in 1 8; do
  rm -rf "$WORK/copy"
  timed "import --source-endpoint (local cogsync, --concurrency $c, --rate 0)" env \
    AWS_ACCESS_KEY_ID=AKIDBENCHMIGRATION01 AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 \
    "$BIN" import --source-endpoint "http://127.0.0.1:$PORT" --rate 0 --concurrency "$c" --data-dir "$WORK/copy"
done
