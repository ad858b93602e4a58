#!/usr/bin/env bash
# Runs the whole system on this machine, without Docker: Kamailio (SIP on 127.0.0.1:5060,
# JSON-RPC on 127.0.0.1:5071), the control plane (HTTP on 127.0.0.1:8080) and
# SBC_LOCAL_NODES FreeSWITCH nodes with their agents. FreeSWITCH cannot be installed here,
# so each node is the project's FreeSWITCH stand-in (real ESL protocol + SIP UAS).
# Ctrl-C (or SIGTERM) stops everything: agents first (they announce `left`), then the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build

NODES=${SBC_LOCAL_NODES:-3}
DB=${SBC_LOCAL_DB:-sbc_local}
RUN=$(mktemp -d /tmp/sbc-local.XXXXXX)
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB"

export SBC_NATS_URL=nats://127.0.0.1:4222 SBC_NATS_PREFIX=sbc.local
pids=()
agents=()
stop_all() {
  trap - INT TERM EXIT
  echo "stopping..."
  for p in "${agents[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${agents[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap stop_all INT TERM EXIT

# Control plane first: it migrates the database Kamailio reads.
SBC_REDIS_URL=redis://127.0.0.1:6379 SBC_REDIS_PREFIX=sbc:local: \
SBC_PG_URL=postgres://postgres@127.0.0.1:5432/$DB \
SBC_KAMAILIO_RPC_URLS=http://127.0.0.1:5071/RPC SBC_HTTP_HOST=127.0.0.1 SBC_HTTP_PORT=8080 \
  node --enable-source-maps dist/src/main.js >"$RUN/control-plane.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8080/healthz >/dev/null && break; sleep 0.2; done

SBC_SIP_ADDR=127.0.0.1 SBC_SIP_PORT=5060 SBC_RPC_ADDR=127.0.0.1 SBC_RPC_PORT=5071 \
SBC_DB_URL=postgres://postgres@127.0.0.1:5432/$DB SBC_LUA_SCRIPT="$PWD/lua/routing.lua" \
  kamailio -f kamailio/kamailio.cfg -DD -E -Y "$RUN" -P "$RUN/kamailio.pid" -m 64 -M 8 >"$RUN/kamailio.log" 2>&1 &
pids+=($!)

for i in $(seq 1 "$NODES"); do
  esl=$((8020 + i)); sip=$((5080 + 10 * i))
  node --import tsx test/standin/cli.ts --esl-port "$esl" --sip-port "$sip" --hostname "fs$i" --heartbeat-ms 20000 \
    >"$RUN/fs$i.log" 2>&1 &
  pids+=($!)
  sleep 0.5
  SBC_FS_ESL_PORT=$esl node --enable-source-maps dist/src/agent/main.js >"$RUN/agent$i.log" 2>&1 &
  agents+=($!)
done

# sipp's built-in uac scenario sends BYE without the Record-Route set, which Kamailio
# refuses; the project's scenario follows the route set. Its injection file gives the
# dialed user and the caller of each call.
printf 'SEQUENTIAL\n9000;caller1;\n9000;caller2;\n9000;caller3;\n' >"$RUN/general.csv"
printf 'SEQUENTIAL\n3000;alice;\n3000;bob;\n3000;carol;\n' >"$RUN/room.csv"
SCENARIO="$PWD/test/fixtures/kamailio/uac-call.xml"
cat <<MSG
Running. Logs in $RUN.
  nodes:       curl -s http://127.0.0.1:8080/v1/nodes
  dispatcher:  curl -s http://127.0.0.1:8080/v1/dispatcher
  calls:       sipp -sf $SCENARIO -inf $RUN/general.csv 127.0.0.1:5060 -m 30 -r 10 -d 500 -nostdin -timeout 30s
  a room:      sipp -sf $SCENARIO -inf $RUN/room.csv 127.0.0.1:5060 -m 9 -r 10 -d 500 -nostdin -timeout 30s
Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
echo "a process exited; see the logs in $RUN"
