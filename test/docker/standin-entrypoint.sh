#!/bin/bash
# Entrypoint of the stand-in image (standin.Dockerfile): the FreeSWITCH stand-in on the
# container's own IP and the agent pointed at it, run by the media node's own supervisor
# (docker/freeswitch-node.sh, copied in beside this script): it starts both, forwards SIGTERM
# to the agent first (it publishes `left`, closes ESL and drains NATS), then the stand-in
# (graceful shutdown: BYE for live calls), and ends the container when either exits on its own.
# Each container announces its own address: SBC_AGENT_SIP_URI is computed here at run time
# (copies of a container share its env), and SBC_MACHINE_ID comes from the env (the docker
# provisioner sets it on each copy).
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

export SBC_FS_ESL_PASSWORD="${SBC_FS_ESL_PASSWORD:-ClueCon}"
export FREESWITCH_COMMAND="node /app/standin.mjs --sip-host $ip --sip-port $sip_port --esl-port $esl_port --password \$SBC_FS_ESL_PASSWORD --esl-ready-delay-ms 0 --tone-ms 0 --hostname $(hostname)"
export AGENT_COMMAND="node /app/agent.mjs"
export SBC_AGENT_SIP_URI="sip:${ip}:${sip_port}"
export SBC_FS_ESL_HOST=127.0.0.1 SBC_FS_ESL_PORT="$esl_port"
exec /app/freeswitch-node.sh
