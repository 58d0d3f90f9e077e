#!/usr/bin/env bash
# Ticket creation throughput of two supportd builds, side by side in one run on one machine:
# before, after with SLA matching off (every SLA policy deactivated), after, then the same in the
# reverse order, each on a fresh database and a JetStream stream of its own, driven by the same load generator (the second
# build's `supportd bench`).
#
#   bench/create-side-by-side.sh OLD_SUPPORTD NEW_SUPPORTD [CLIENTS] [SECONDS]
#
# Needs PostgreSQL (postgres@127.0.0.1:5432, trust) and NATS with JetStream (127.0.0.1:4222).
# Drops its databases and deletes its streams when it ends.
set -euo pipefail

old=$1 new=$2 clients=${3:-32} seconds=${4:-30}
port=3900
run_id=$(date +%s)
# The load is the benchmark: no rate limit of builds that have them gets in its way.
unlimited=(env)
for role in CUSTOMER AGENT ADMIN SERVICE AUDITOR ANONYMOUS; do
  unlimited+=("SUPPORTD_RATE_LIMIT_PER_MINUTE_$role=1000000000")
done
# Builds that seal personal data do it with a real key; older ones ignore it.
export SUPPORTD_MASTER_KEY
SUPPORTD_MASTER_KEY=$("$new" master-key 2>/dev/null || true)

nats_request() { # subject: a JetStream API call with an empty body, answer ignored
  exec 3<>/dev/tcp/127.0.0.1/4222
  printf 'CONNECT {"verbose":false}\r\nPUB %s 0\r\n\r\nPING\r\n' "$1" >&3
  timeout 5 grep -q PONG <&3 || true
  exec 3<&-
}

# Deactivates every SLA policy of the service on port $port: no ticket matches one.
sla_matching_off() {
  local token ids
  token=$(SUPPORTD_JWT_SECRET=side-by-side "$new" token --role admin --sub side-by-side)
  ids=$(curl -sf "http://127.0.0.1:$port/api/v1/support/sla-policies?limit=100" \
    -H "authorization: Bearer $token" | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
  for id in $ids; do
    curl -sf -o /dev/null -X PUT "http://127.0.0.1:$port/api/v1/support/sla-policies/$id" \
      -H "authorization: Bearer $token" -H 'content-type: application/json' -d '{"active":false}'
  done
}

measure() { # label binary n [off]
  local label=$1 binary=$2 n=$3 matching=${4:-}
  local db="support_side_by_side_${run_id}_$n" stream="SIDE_BY_SIDE_${run_id}_$n"
  local url="postgres://postgres@127.0.0.1:5432/$db"
  DATABASE_URL=$url NATS_URL=nats://127.0.0.1:4222 SUPPORTD_BIND=127.0.0.1:$port \
    SUPPORTD_STREAM=$stream SUPPORTD_SUBJECT_PREFIX="sbs${run_id}_$n.events" \
    SUPPORTD_JWT_SECRET=side-by-side RUST_LOG=warn "${unlimited[@]}" "$binary" serve 2>"/tmp/$db.log" &
  local server=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.2
  done
  if [ "$matching" = off ]; then sla_matching_off; fi
  local rate
  rate=$(DATABASE_URL=$url SUPPORTD_JWT_SECRET=side-by-side RUST_LOG=warn \
    "$new" bench --url "http://127.0.0.1:$port" --clients "$clients" --seconds "$seconds" |
    awk -F: '/creations per second/ {gsub(/ /, "", $2); print $2}')
  kill "$server"
  wait "$server" || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" postgres
  nats_request "\$JS.API.STREAM.DELETE.$stream"
  echo "$label run $n: $rate creations/s"
}

# The second round runs in the reverse order, so that a machine slowing (or speeding up) over the
# run weighs on each configuration alike.
measure before "$old" 1
measure "after, SLA matching off" "$new" 2 off
measure after "$new" 3
measure after "$new" 4
measure "after, SLA matching off" "$new" 5 off
measure before "$old" 6
