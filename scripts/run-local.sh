#!/usr/bin/env bash
# Runs the whole system on this machine, without Docker: Kamailio (SIP on 127.0.0.1:5060,
# JSON-RPC on 127.0.0.1:5071), the control plane (HTTP on 127.0.0.1:8080) and
# SBC_LOCAL_NODES FreeSWITCH nodes with their agents. FreeSWITCH cannot be installed here,
# so each node is the project's FreeSWITCH stand-in (real ESL protocol + SIP UAS).
#
# It starts its own NATS on 127.0.0.1:4223 with authorization on (one nkey per program, made
# by nats-credentials into the log directory; subject prefix sbc.local), and uses the machine's
# Redis (127.0.0.1:6379, key prefix sbc:local:) and Postgres (127.0.0.1:5432, database sbc_local).
#
# Every child runs in its own session (setsid), so a Ctrl-C in the terminal reaches only this
# script. Ctrl-C, SIGTERM or SIGHUP stop everything in order: the agents (each publishes
# `left`, reason agent-stopping), then a bounded wait until the control plane has applied
# that (none of their nodes live in GET /v1/nodes, no rows in dispatcher sets 1-3), then the
# control plane, then Kamailio and the stand-ins. A second Ctrl-C kills everything at once.
# Logs are kept, in the directory printed at start.
#
# Environment (defaults in brackets):
#   SBC_LOCAL_NODES [3]            stand-in + agent pairs (1..20)
#   SBC_LOCAL_DB [sbc_local]       Postgres database (created when missing)
#   SBC_LOCAL_SIP_PORT [5060]      Kamailio SIP (UDP and TCP)
#   SBC_LOCAL_RPC_PORT [5071]      Kamailio JSON-RPC
#   SBC_LOCAL_HTTP_PORT [8080]     control plane HTTP API
#   SBC_LOCAL_NATS_PORT [4223]     this run's NATS server (authorization on)
#   SBC_LOCAL_ESL_BASE [8020]      node i's ESL port is this + i (8021, 8022, ...)
#   SBC_LOCAL_NODE_SIP_BASE [5080] node i's SIP (UDP) port is this + 10 i (5090, 5100, ...)
#   SBC_LOCAL_NATS_PREFIX [sbc.local], SBC_LOCAL_REDIS_PREFIX [sbc:local:]
#   SBC_LOCAL_LOG_DIR [a new /tmp/sbc-local.XXXXXX]
#   SBC_LOCAL_SKIP_SETUP [0]       1: no install-deps.sh, no build; the control plane and the
#                                  agents run from the TypeScript sources (tsx). For tests.
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=${SBC_LOCAL_NODES:-3}
DB=${SBC_LOCAL_DB:-sbc_local}
SIP_PORT=${SBC_LOCAL_SIP_PORT:-5060}
RPC_PORT=${SBC_LOCAL_RPC_PORT:-5071}
HTTP_PORT=${SBC_LOCAL_HTTP_PORT:-8080}
NATS_PORT=${SBC_LOCAL_NATS_PORT:-4223}
ESL_BASE=${SBC_LOCAL_ESL_BASE:-8020}
NODE_SIP_BASE=${SBC_LOCAL_NODE_SIP_BASE:-5080}
NATS_PREFIX=${SBC_LOCAL_NATS_PREFIX:-sbc.local}
REDIS_PREFIX=${SBC_LOCAL_REDIS_PREFIX:-sbc:local:}
SKIP_SETUP=${SBC_LOCAL_SKIP_SETUP:-0}
API=http://127.0.0.1:$HTTP_PORT
SETS="1,2,3" # the control plane's default dispatcher sets (general, rooms, cascade)

say() { echo "run-local: $*"; }
die() {
  say "$*" >&2
  exit 2
}

[[ $NODES =~ ^[0-9]+$ ]] && ((NODES >= 1 && NODES <= 20)) || die "SBC_LOCAL_NODES must be 1..20, got '$NODES'"
[[ $DB =~ ^[a-z_][a-z0-9_]*$ ]] || die "SBC_LOCAL_DB must be a plain lower-case identifier, got '$DB'"
for v in SIP_PORT RPC_PORT HTTP_PORT NATS_PORT ESL_BASE NODE_SIP_BASE; do
  [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} >= 1 && ${!v} <= 65535)) || die "SBC_LOCAL_$v must be a port number, got '${!v}'"
done

# ---- processes --------------------------------------------------------------------------
declare -A NAME_OF=() LOG_OF=() # pid -> name, log
AGENTS=() CONTROL_PLANE=() OTHERS=() # pids by stop stage
NODE_IDS=()
STOPPING=0
LOG_DIR=""
API_TOKEN=""

# Starts "$@" in its own session (setsid: its own process group, no controlling terminal), so
# a terminal's SIGINT does not reach it and this script decides the stop order.
# Usage: spawn <stage> <name> <command...>; sets SPAWNED to the pid.
spawn() {
  local stage=$1 name=$2 log="$LOG_DIR/$2.log"
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  SPAWNED=$!
  NAME_OF[$SPAWNED]=$name
  LOG_OF[$SPAWNED]=$log
  case $stage in
    agent) AGENTS+=("$SPAWNED") ;;
    control-plane) CONTROL_PLANE+=("$SPAWNED") ;;
    *) OTHERS+=("$SPAWNED") ;;
  esac
  echo "$SPAWNED $name $log" >>"$LOG_DIR/pids"
}

alive() { kill -0 "$1" 2>/dev/null; }

# Signals each pid's process group (Kamailio's workers, a node's children).
signal_groups() {
  local sig=$1 p
  shift
  for p in "$@"; do kill "-$sig" -- "-$p" 2>/dev/null || true; done
}

# Waits (at most $1 seconds) until none of the pids is alive; returns 1 if some still are.
wait_gone() {
  local bound=$1 p i any
  shift
  for ((i = 0; i < bound * 10; i++)); do
    any=0
    for p in "$@"; do alive "$p" && any=1; done
    ((any == 0)) && return 0
    sleep 0.1
  done
  return 1
}

# SIGTERM, then SIGKILL after $1 seconds; always SIGKILL the groups at the end so no worker
# outlives its main process. Reaps them.
stop_stage() {
  local bound=$1 p
  shift
  (($# > 0)) || return 0
  signal_groups TERM "$@"
  if ! wait_gone "$bound" "$@"; then
    for p in "$@"; do alive "$p" && say "${NAME_OF[$p]} did not stop within ${bound} s; killing it"; done
  fi
  signal_groups KILL "$@"
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

show_log() { # <pid> [lines]
  local p=$1 n=${2:-25}
  echo "---- last $n lines of ${LOG_OF[$p]} ----" >&2
  tail -n "$n" "${LOG_OF[$p]}" >&2 || true
  echo "----" >&2
}

# ---- what the control plane says --------------------------------------------------------
# One line per node of this run that the control plane lists: "<nodeId> <state>".
node_states() {
  local ids
  ids=$(
    IFS=,
    echo "${NODE_IDS[*]}"
  )
  curl -sf -m 2 -H "authorization: Bearer $API_TOKEN" "$API/v1/nodes" | NODE_IDS_CSV="$ids" node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const want = new Set(process.env.NODE_IDS_CSV.split(","));
      for (const n of JSON.parse(s).nodes) if (want.has(n.nodeId)) console.log(`${n.nodeId} ${n.state}`);
    });'
}

dispatcher_rows() { # rows in the control plane's sets
  psql -h 127.0.0.1 -U postgres -d "$DB" -tAqc "SELECT count(*) FROM dispatcher WHERE setid IN ($SETS)" 2>/dev/null
}

# ---- stopping ---------------------------------------------------------------------------
ordered_stop() {
  set +e
  STOPPING=1
  if ((${#AGENTS[@]} > 0)); then
    say "stopping the agents (each announces left)..."
    stop_stage 15 "${AGENTS[@]}"
    if ((${#CONTROL_PLANE[@]} > 0)) && alive "${CONTROL_PLANE[0]}" && ((${#NODE_IDS[@]} > 0)); then
      local i states live rows
      for ((i = 0; i < 150; i++)); do
        # printf, not <<<: an empty answer must count as no lines, not as one empty line.
        if states=$(node_states); then live=$(printf '%s' "$states" | grep -cv ' gone$'); else live='?'; fi
        rows=$(dispatcher_rows)
        [[ $live == 0 && $rows == 0 ]] && break
        sleep 0.1
      done
      if [[ $live == 0 && $rows == 0 ]]; then
        say "the control plane applied it: no node of this run live, no rows in dispatcher sets $SETS"
      else
        say "gave up waiting after 15 s: ${live:-?} node(s) of this run still live, ${rows:-?} row(s) in sets $SETS"
      fi
    fi
  fi
  if ((${#CONTROL_PLANE[@]} > 0)); then
    say "stopping the control plane..."
    stop_stage 20 "${CONTROL_PLANE[@]}"
  fi
  if ((${#OTHERS[@]} > 0)); then
    say "stopping Kamailio and the FreeSWITCH stand-ins..."
    stop_stage 10 "${OTHERS[@]}"
  fi
  AGENTS=() CONTROL_PLANE=() OTHERS=()
  if [[ -n $LOG_DIR ]]; then say "stopped. Logs kept in $LOG_DIR"; fi
}

force_stop() {
  set +e
  say "second signal: killing everything now (the agents may not have announced left)"
  local p
  signal_groups KILL "${AGENTS[@]}" "${CONTROL_PLANE[@]}" "${OTHERS[@]}"
  for p in "${AGENTS[@]}" "${CONTROL_PLANE[@]}" "${OTHERS[@]}"; do wait "$p" 2>/dev/null || true; done
  say "killed. Logs kept in $LOG_DIR"
  exit 130
}

on_signal() { # <signal name> <exit code>
  if ((STOPPING)); then force_stop; fi
  echo
  say "got SIG$1"
  ordered_stop
  trap - EXIT
  exit "$2"
}

# Any other way out (a failed command under set -e, a failed start) stops what was started.
on_exit() {
  local rc=$?
  trap - EXIT
  ((STOPPING)) || ordered_stop
  exit "$rc"
}

# Stops everything and exits 1, after showing the log of the process that failed.
fail() { # <message> [pid]
  say "$1" >&2
  [[ -n ${2:-} ]] && show_log "$2"
  ordered_stop
  trap - EXIT
  exit 1
}

trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP
trap on_exit EXIT

# ---- set-up -----------------------------------------------------------------------------
if [[ $SKIP_SETUP == 1 ]]; then
  CP_CMD=(node --import tsx src/main.ts)
  AGENT_CMD=(node --import tsx src/agent/main.ts)
  CREDENTIALS_CMD=(node --import tsx src/tools/nats-credentials.ts)
else
  bash scripts/install-deps.sh
  npm run build
  CP_CMD=(node --enable-source-maps dist/src/main.js)
  AGENT_CMD=(node --enable-source-maps dist/src/agent/main.js)
  CREDENTIALS_CMD=(node dist/src/tools/nats-credentials.js)
fi

LOG_DIR=${SBC_LOCAL_LOG_DIR:-$(mktemp -d /tmp/sbc-local.XXXXXX)}
mkdir -p "$LOG_DIR"
: >"$LOG_DIR/pids"
say "logs in $LOG_DIR (kept after exit; $LOG_DIR/pids lists every process)"

# "<proto> <port> <what>" for every port this run listens on.
WANTED=("udp $SIP_PORT Kamailio SIP" "tcp $SIP_PORT Kamailio SIP" "tcp $RPC_PORT Kamailio JSON-RPC" "tcp $HTTP_PORT control plane HTTP" "tcp $NATS_PORT NATS")
for ((i = 1; i <= NODES; i++)); do
  WANTED+=("tcp $((ESL_BASE + i)) node $i ESL" "udp $((NODE_SIP_BASE + 10 * i)) node $i SIP")
done

# The owner of a listening socket, as "name (pid N)" when ss can tell; empty when the port is free.
port_owner() { # <tcp|udp> <port>
  local flag=t line who
  [[ $1 == udp ]] && flag=u
  line=$(ss -Hln${flag}p "sport = :$2" 2>/dev/null | head -n1)
  [[ -n $line ]] || return 0
  who=$(sed -nE 's/.*users:\(\("([^"]+)",pid=([0-9]+).*/\1 (pid \2)/p' <<<"$line")
  echo "${who:-a process ss does not name}"
}

taken=0
declare -A SEEN=()
for w in "${WANTED[@]}"; do
  read -r proto port what <<<"$w"
  if [[ -n ${SEEN[$proto/$port]:-} ]]; then
    say "$proto port $port is wanted twice: by ${SEEN[$proto/$port]} and by $what (check the SBC_LOCAL_* ports)" >&2
    taken=1
    continue
  fi
  SEEN[$proto/$port]=$what
  owner=$(port_owner "$proto" "$port")
  if [[ -n $owner ]]; then
    say "$proto port $port ($what) is already in use by $owner" >&2
    taken=1
  fi
done
((taken == 0)) || fail "not starting: free those ports or choose others (SBC_LOCAL_SIP_PORT, SBC_LOCAL_RPC_PORT, SBC_LOCAL_HTTP_PORT, SBC_LOCAL_NATS_PORT, SBC_LOCAL_ESL_BASE, SBC_LOCAL_NODE_SIP_BASE)"

for need in "6379 Redis" "5432 Postgres"; do
  read -r port what <<<"$need"
  [[ -n $(port_owner tcp "$port") ]] || fail "$what is not listening on 127.0.0.1:$port (scripts/install-deps.sh starts it)"
done

exists=$(psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'") || fail "cannot query Postgres as user postgres on 127.0.0.1:5432"
[[ $exists == 1 ]] || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" || fail "cannot create database $DB"

# What every agent and the control plane get (other SBC_* variables of the caller pass through).
COMMON=(env "SBC_NATS_URL=nats://127.0.0.1:$NATS_PORT" "SBC_NATS_PREFIX=$NATS_PREFIX")

# Polls "$2..." every 0.2 s for at most $1 seconds while $pid lives; fails with its log otherwise.
wait_until() { # <bound s> <pid> <what> <command...>
  local bound=$1 pid=$2 what=$3 i
  shift 3
  for ((i = 0; i < bound * 5; i++)); do
    "$@" && return 0
    alive "$pid" || fail "${NAME_OF[$pid]} exited while waiting for $what" "$pid"
    sleep 0.2
  done
  fail "gave up after $bound s waiting for $what" "$pid"
}

kamailio_rpc_answers() {
  curl -sf -m 2 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","method":"core.version","id":1}' \
    "http://127.0.0.1:$RPC_PORT/RPC" | grep -q kamailio
}

# ---- start ------------------------------------------------------------------------------
# NATS first, with only the keys made for this run: a client without one is refused.
NATS_DIR="$LOG_DIR/nats"
"${CREDENTIALS_CMD[@]}" --dir "$NATS_DIR" --prefix "$NATS_PREFIX" >/dev/null || fail "nats-credentials could not write $NATS_DIR"
# JetStream keeps the calls stream (call correlation) in this run's log folder.
printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s" }\ninclude auth.conf\n' "$NATS_PORT" "$NATS_DIR/jetstream" >"$NATS_DIR/nats-server.conf"
spawn other nats nats-server -c "$NATS_DIR/nats-server.conf"
NATS_PID=$SPAWNED
nats_listens() { [[ -n $(port_owner tcp "$NATS_PORT") ]]; }
wait_until 10 "$NATS_PID" "NATS on 127.0.0.1:$NATS_PORT" nats_listens

# The API asks for tokens (SBC_API_AUTH=on); this run's bootstrap secret, an admin token, is
# made here and readable only by this user: sbcctl token create makes narrower ones from it.
API_TOKEN_FILE="$LOG_DIR/api-token"
(umask 077 && node -e 'process.stdout.write(require("node:crypto").randomBytes(24).toString("hex") + "\n")' >"$API_TOKEN_FILE")
API_TOKEN=$(<"$API_TOKEN_FILE")

# Control plane next: it migrates the database Kamailio reads.
spawn control-plane control-plane "${COMMON[@]}" SBC_API_AUTH=on "SBC_API_BOOTSTRAP_TOKEN_FILE=$API_TOKEN_FILE" "SBC_NATS_NKEY_FILE=$NATS_DIR/control-plane.nk" "SBC_REDIS_URL=redis://127.0.0.1:6379" "SBC_REDIS_PREFIX=$REDIS_PREFIX" \
  "SBC_PG_URL=postgres://postgres@127.0.0.1:5432/$DB" "SBC_KAMAILIO_RPC_URLS=http://127.0.0.1:$RPC_PORT/RPC" \
  SBC_HTTP_HOST=127.0.0.1 "SBC_HTTP_PORT=$HTTP_PORT" "${CP_CMD[@]}"
CP=$SPAWNED
wait_until 60 "$CP" "the control plane's $API/healthz" curl -sf -m 2 -o /dev/null "$API/healthz"

spawn other kamailio env SBC_SIP_ADDR=127.0.0.1 "SBC_SIP_PORT=$SIP_PORT" SBC_RPC_ADDR=127.0.0.1 "SBC_RPC_PORT=$RPC_PORT" \
  "SBC_DB_URL=postgres://postgres@127.0.0.1:5432/$DB" "SBC_LUA_SCRIPT=$PWD/lua/routing.lua" \
  kamailio -f kamailio/kamailio.cfg -DD -E -Y "$LOG_DIR" -P "$LOG_DIR/kamailio.pid" -m 64 -M 8
KAM=$SPAWNED
wait_until 30 "$KAM" "Kamailio's JSON-RPC on 127.0.0.1:$RPC_PORT" kamailio_rpc_answers
wait_until 60 "$CP" "the control plane's $API/readyz (Redis, Postgres, NATS, a successful reconcile)" \
  curl -sf -m 2 -o /dev/null "$API/readyz"

for ((i = 1; i <= NODES; i++)); do
  esl=$((ESL_BASE + i)) sip=$((NODE_SIP_BASE + 10 * i))
  uuid=$(cat /proc/sys/kernel/random/uuid)
  NODE_IDS+=("$uuid")
  spawn other "fs$i" node --import tsx test/standin/cli.ts --esl-port "$esl" --sip-port "$sip" --hostname "fs$i" \
    --core-uuid "$uuid" --heartbeat-ms 20000
  fs=$SPAWNED
  # The stand-in prints one JSON line once it listens.
  wait_until 60 "$fs" "stand-in fs$i to listen (ESL $esl, SIP $sip)" grep -q '"coreUuid"' "$LOG_DIR/fs$i.log"
  spawn agent "agent$i" "${COMMON[@]}" "SBC_NATS_NKEY_FILE=$NATS_DIR/agent.nk" "SBC_FS_ESL_PORT=$esl" "${AGENT_CMD[@]}"
done

all_active() {
  local states
  states=$(node_states) || return 1
  [[ $(printf '%s' "$states" | grep -c ' active$') == "${#NODE_IDS[@]}" ]]
}
for ((i = 0; ; i++)); do
  all_active && break
  for p in "${AGENTS[@]}" "${OTHERS[@]}" "$CP"; do
    alive "$p" || fail "${NAME_OF[$p]} exited before every node was active" "$p"
  done
  ((i < 300)) || fail "gave up after 60 s waiting for all $NODES node(s) to be active in $API/v1/nodes; now: $(node_states | tr '\n' ' ')" "$CP"
  sleep 0.2
done

# sipp's built-in uac scenario sends BYE without the Record-Route set, which Kamailio
# refuses; the project's scenario follows the route set. Its injection file gives the
# dialed user and the caller of each call.
printf 'SEQUENTIAL\n9000;caller1;\n9000;caller2;\n9000;caller3;\n' >"$LOG_DIR/general.csv"
printf 'SEQUENTIAL\n3000;alice;\n3000;bob;\n3000;carol;\n' >"$LOG_DIR/room.csv"
SCENARIO="$PWD/test/fixtures/kamailio/uac-call.xml"
cat <<MSG
Running: $NODES node(s) active. Logs in $LOG_DIR.
  the API asks for a token; this run's admin token is in $API_TOKEN_FILE:
               export SBC_API_URL=$API SBC_API_TOKEN=\$(cat $API_TOKEN_FILE)
  nodes:       npx tsx src/cli/sbcctl.ts nodes    (or: curl -s -H "authorization: Bearer \$SBC_API_TOKEN" $API/v1/nodes)
  dispatcher:  npx tsx src/cli/sbcctl.ts dispatcher
  calls:       sipp -sf $SCENARIO -inf $LOG_DIR/general.csv 127.0.0.1:$SIP_PORT -m 30 -r 10 -d 500 -nostdin -timeout 30s
  a room:      sipp -sf $SCENARIO -inf $LOG_DIR/room.csv 127.0.0.1:$SIP_PORT -m 9 -r 10 -d 500 -nostdin -timeout 30s
Ctrl-C stops everything: agents first (they announce left), then the control plane, Kamailio and the stand-ins.
MSG

# Until a signal (handled by the traps) or a process that exits on its own.
set +e
wait -n -p gone "${AGENTS[@]}" "${CONTROL_PLANE[@]}" "${OTHERS[@]}"
rc=$?
set -e
fail "${NAME_OF[$gone]:-a process} exited on its own (status $rc)" "${gone:-}"
