#!/usr/bin/env bash
# Replay throughput of two supportd builds, each on a store of ticket openings made through its own
# write path (40 s of `supportd bench`, 32 clients), replayed three times.
#
#   bench/replay-side-by-side.sh OLD_SUPPORTD NEW_SUPPORTD
#
# Needs PostgreSQL (postgres@127.0.0.1:5432, trust), NATS with JetStream (127.0.0.1:4222) and bc.
# Drops its databases and deletes its streams when it ends.
set -euo pipefail
old=$1 new=$2
for pair in "before:$old" "after:$new"; do
  label=${pair%%:*}; bin=${pair#*:}
  db=replay_ab_$label; stream=REPLAY_AB_$label
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" 2>/dev/null
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db SUPPORTD_BIND=127.0.0.1:3950 \
    SUPPORTD_STREAM=$stream SUPPORTD_SUBJECT_PREFIX=rab_$label.events SUPPORTD_JWT_SECRET=ab RUST_LOG=error \
    SUPPORTD_MASTER_KEY=$($new master-key 2>/dev/null)
  for role in CUSTOMER AGENT ADMIN SERVICE AUDITOR ANONYMOUS; do export SUPPORTD_RATE_LIMIT_PER_MINUTE_$role=1000000000; done
  $bin serve 2>/dev/null & server=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:3950/readyz >/dev/null && break; sleep 0.2; done
  $new bench --url http://127.0.0.1:3950 --clients 32 --seconds 40 2>/dev/null | grep -i "tickets created\|creations per second" || true
  kill $server; wait $server 2>/dev/null || true
  for i in 1 2 3; do
    start=$(date +%s.%N); out=$($bin replay 2>/dev/null); end=$(date +%s.%N)
    events=$(echo "$out" | awk '{print $3}')
    echo "$label replay $i: $out in $(echo "$end - $start" | bc) s = $(echo "$events / ($end - $start)" | bc) events/s"
  done
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE $db"
  exec 3<>/dev/tcp/127.0.0.1/4222; printf 'CONNECT {"verbose":false}\r\nPUB $JS.API.STREAM.DELETE.%s 0\r\n\r\nPING\r\n' "$stream" >&3; timeout 5 grep -q PONG <&3 || true; exec 3<&-
done
