#!/usr/bin/env bash
# What one ticket creation costs, by process: CPU milliseconds of supportd serve, the load
# generator, PostgreSQL and NATS, and WAL bytes, per ticket created while 32 clients create
# tickets for SECONDS (measured over the middle of the run, on an otherwise idle machine).
#
#   bench/create-cost.sh SUPPORTD [SECONDS] [off]
#
# `off` deactivates every SLA policy first (a build without the SLA engine ignores it). Needs
# PostgreSQL (postgres@127.0.0.1:5432, trust) and NATS with JetStream (127.0.0.1:4222); drops its
# database and deletes its stream when it ends.
set -euo pipefail

bin=$1 seconds=${2:-30} matching=${3:-on}
port=3901 run_id=$(date +%s)
db="support_create_cost_$run_id" stream="CREATE_COST_$run_id"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" NATS_URL=nats://127.0.0.1:4222 \
  SUPPORTD_BIND=127.0.0.1:$port SUPPORTD_STREAM=$stream SUPPORTD_SUBJECT_PREFIX="cost$run_id.events" \
  SUPPORTD_JWT_SECRET=create-cost RUST_LOG=warn
for role in CUSTOMER AGENT ADMIN SERVICE AUDITOR ANONYMOUS; do
  export "SUPPORTD_RATE_LIMIT_PER_MINUTE_$role=1000000000"
done
SUPPORTD_MASTER_KEY=$("$bin" master-key 2>/dev/null || true)
export SUPPORTD_MASTER_KEY
sql() { psql -qAt -h 127.0.0.1 -U postgres -c "$1" "${2:-postgres}"; }

"$bin" serve 2>"/tmp/$db.log" &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
if [ "$matching" = off ]; then
  token=$("$bin" token --role admin --sub create-cost)
  for id in $(curl -sf "http://127.0.0.1:$port/api/v1/support/sla-policies?limit=100" \
    -H "authorization: Bearer $token" | grep -o '"id":"[^"]*"' | cut -d'"' -f4); do
    curl -sf -o /dev/null -X PUT "http://127.0.0.1:$port/api/v1/support/sla-policies/$id" \
      -H "authorization: Bearer $token" -H 'content-type: application/json' -d '{"active":false}'
  done
fi
"$bin" bench --url "http://127.0.0.1:$port" --clients 32 --seconds "$seconds" >"/tmp/$db.bench" &
bench=$!

ticks() { # pid...: utime + stime, in 1/100 s, of those still running
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat")))
  done
  echo "$total"
}
snapshot() { # serve bench postgres nats tickets wal
  echo "$(ticks "$server") $(ticks "$bench") $(ticks $(pgrep -x postgres)) \
    $(ticks $(pgrep -x nats-server)) $(sql 'SELECT count(*) FROM tickets' "$db") \
    $(sql 'SELECT pg_current_wal_lsn() - $$0/0$$::pg_lsn')"
}
sleep 3
read -r s0 b0 p0 n0 t0 w0 <<<"$(snapshot)"
sleep $((seconds - 6))
read -r s1 b1 p1 n1 t1 w1 <<<"$(snapshot)"
wait "$bench"
made=$((t1 - t0))
per() { awk -v d="$1" -v n="$made" 'BEGIN { printf "%.2f", d * 10 / n }'; }
grep "creations per second" "/tmp/$db.bench"
echo "CPU ms per ticket: supportd $(per $((s1 - s0))), load generator $(per $((b1 - b0))), PostgreSQL $(per $((p1 - p0))), NATS $(per $((n1 - n0)))"
echo "WAL bytes per ticket: $(awk -v d="$w1" -v e="$w0" -v n="$made" 'BEGIN { printf "%d", (d - e) / n }')"
kill "$server"
wait "$server" || true
sql "DROP DATABASE IF EXISTS $db"
exec 3<>/dev/tcp/127.0.0.1/4222
printf 'CONNECT {"verbose":false}\r\nPUB $JS.API.STREAM.DELETE.%s 0\r\n\r\nPING\r\n' "$stream" >&3
timeout 5 grep -q PONG <&3 || true
exec 3<&-
