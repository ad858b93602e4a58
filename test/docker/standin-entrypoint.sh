#!/bin/bash
# Entrypoint of the stand-in image (standin.Dockerfile): starts the FreeSWITCH stand-in on the
# container's own IP, then the agent pointed at it. Each container announces its own address:
# SBC_AGENT_SIP_URI is computed here at run time (copies of a container share its env), and
# SBC_MACHINE_ID comes from the env (the docker provisioner sets it on each copy).
#
# On SIGTERM (docker stop; forwarded by the container's init): the agent first (it publishes
# `left`, closes ESL and drains NATS), then the stand-in (graceful shutdown: BYE for live calls).
#
# Env: the agent's SBC_* variables (SBC_NATS_URL, SBC_NATS_PREFIX, SBC_MACHINE_ID, ...), plus
#   SBC_STANDIN_SIP_HOST  address to bind SIP to (default: the first of `hostname -i`)
#   SBC_STANDIN_SIP_PORT  default 5080
#   SBC_STANDIN_ESL_PORT  default 8021 (loopback only)
set -u
ip="${SBC_STANDIN_SIP_HOST:-$(hostname -i | awk '{print $1}')}"
sip_port="${SBC_STANDIN_SIP_PORT:-5080}"
esl_port="${SBC_STANDIN_ESL_PORT:-8021}"
if [ -z "$ip" ]; then echo "entrypoint: no address (hostname -i printed nothing)" >&2; exit 1; fi

fs=
agent=
stopping=0
stop() {
  [ "$stopping" = 1 ] && return
  stopping=1
  if [ -n "$agent" ]; then kill -TERM "$agent" 2>/dev/null; wait "$agent"; fi
  if [ -n "$fs" ]; then kill -TERM "$fs" 2>/dev/null; wait "$fs"; fi
  exit 0
}
trap stop TERM INT

ready=/tmp/standin.ready
rm -f "$ready"
node /app/standin.mjs --sip-host "$ip" --sip-port "$sip_port" --esl-port "$esl_port" \
  --esl-ready-delay-ms 0 --tone-ms 0 --hostname "$(hostname)" >"$ready" &
fs=$!
# The stand-in prints one JSON line once ESL accepts and SIP answers.
for _ in $(seq 1 300); do
  [ -s "$ready" ] && break
  kill -0 "$fs" 2>/dev/null || { echo "entrypoint: the stand-in exited before it was ready" >&2; exit 1; }
  sleep 0.1
done
[ -s "$ready" ] || { echo "entrypoint: the stand-in was not ready within 30 s" >&2; kill -KILL "$fs"; exit 1; }
echo "entrypoint: stand-in ready: $(cat "$ready")"

export SBC_AGENT_SIP_URI="sip:${ip}:${sip_port}"
export SBC_FS_ESL_HOST=127.0.0.1 SBC_FS_ESL_PORT="$esl_port"
node /app/agent.mjs &
agent=$!

# Either process exiting on its own ends the container (with its status).
wait -n "$fs" "$agent"
status=$?
[ "$stopping" = 1 ] && exit 0
echo "entrypoint: a process exited on its own (status $status); stopping the other" >&2
kill -TERM "$fs" "$agent" 2>/dev/null
wait
exit "$status"
