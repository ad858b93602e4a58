#!/bin/bash
# Supervisor of a FreeSWITCH media node (docker/freeswitch.Dockerfile): runs FreeSWITCH and the
# agent beside it, and ends the container when either of them ends.
#
# - The node's address: the container's own IP (`hostname -i`), exported as NODE_IP for
#   FREESWITCH_COMMAND and as FreeSWITCH's external_sip_ip/external_rtp_ip (vars.xml reads
#   them with env-set, like the ESL password).
# - The machine id: SBC_MACHINE_ID when set (the control plane's docker provisioner sets it on
#   every container it creates), else the container's name (`<project>_freeswitch_<n>`, found
#   in Docker's DNS from FREESWITCH_NODE_NAME_PREFIX): what the provisioner lists and removes, so
#   a container `docker-compose up --scale` made is one it can drain and remove.
# - SIGTERM (docker stop, forwarded by init): the agent first (it publishes `left`, so Kamailio
#   stops sending calls at once), then FreeSWITCH.
#
# Env (this script's own):
#   FREESWITCH_COMMAND  how FreeSWITCH is started (bash words; $NODE_IP expands), default
#                       `freeswitch -nonat -nf -nc -u freeswitch -g freeswitch`
#   FREESWITCH_CONF_DIR its configuration directory (set by the image)
#   AGENT_COMMAND       default `node --enable-source-maps /opt/sbc/dist/src/agent/main.js`
#   FREESWITCH_NODE_NAME_PREFIX  `<project>_<service>_` (compose v1 names), for the machine id
#   SBC_FS_ESL_PASSWORD the event socket password (required): FreeSWITCH's and the agent's
set -u
NODE_IP="$(hostname -i | awk '{print $1}')"
[ -n "$NODE_IP" ] || { echo "freeswitch-node: no address (hostname -i printed nothing)" >&2; exit 1; }
[ -n "${SBC_FS_ESL_PASSWORD:-}" ] || { echo "freeswitch-node: SBC_FS_ESL_PASSWORD is required" >&2; exit 1; }
export NODE_IP SBC_FS_ESL_PASSWORD
# Kamailio sends from the same network: its /16 (compose's default pools) unless given.
export FS_KAMAILIO_CIDR="${FS_KAMAILIO_CIDR:-${NODE_IP%.*.*}.0.0/16}"
export FS_EXTERNAL_SIP_IP="${FS_EXTERNAL_SIP_IP:-$NODE_IP}" FS_EXTERNAL_RTP_IP="${FS_EXTERNAL_RTP_IP:-$NODE_IP}"

if [ -z "${SBC_MACHINE_ID:-}" ] && [ -n "${FREESWITCH_NODE_NAME_PREFIX:-}" ]; then
  # Docker's DNS knows every container by name on a compose network; the one of
  # <prefix>1..<prefix>64 that resolves to this container's address is its name. (A PTR query for
  # the container's own address gets no answer from Docker's DNS, those for others do.) Node's
  # resolver asks the DNS server, not /etc/hosts, which holds only the container id. Names that
  # are not containers are forwarded to the host's resolvers, which may never answer (a machine
  # with no upstream DNS): so the first match ends the search, each query has its own short
  # timeout, and a round with no match is tried again (a sibling started at the same moment may
  # not be in the DNS yet). Bounded at 15 s; with no match the agent falls back to the SIP
  # address as the machine id.
  name="$(node -e '
    const { Resolver } = require("node:dns").promises;
    const [prefix, ip] = process.argv.slice(1);
    const resolver = new Resolver({ timeout: 1000, tries: 2 });
    setTimeout(() => process.exit(1), 15000).unref();
    const round = () => new Promise((done) => {
      let pending = 64;
      for (let i = 1; i <= 64; i++) {
        resolver.resolve4(prefix + i).then((a) => { if (a.includes(ip)) { console.log(prefix + i); process.exit(0); } }, () => {})
          .finally(() => { if (--pending === 0) done(); });
      }
    });
    (async () => { for (let n = 0; n < 5; n++) { await round(); await new Promise((r) => setTimeout(r, 1000)); } process.exit(1); })();
  ' "$FREESWITCH_NODE_NAME_PREFIX" "$NODE_IP" 2>/dev/null)" || name=""
  if [ -n "$name" ]; then export SBC_MACHINE_ID="$name"; else echo "freeswitch-node: no ${FREESWITCH_NODE_NAME_PREFIX}<n> resolves to $NODE_IP; the machine id will be the SIP address" >&2; fi
fi

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

# shellcheck disable=SC2086 # FREESWITCH_COMMAND is words on purpose
eval "set -- ${FREESWITCH_COMMAND:-freeswitch -nonat -nf -nc -u freeswitch -g freeswitch}"
"$@" &
fs=$!
echo "freeswitch-node: FreeSWITCH started (pid $fs, $NODE_IP, machine ${SBC_MACHINE_ID:-<sip address>})"

# The agent waits for the event socket itself (it retries the connection), so it starts at once.
eval "set -- ${AGENT_COMMAND:-node --enable-source-maps /opt/sbc/dist/src/agent/main.js}"
"$@" &
agent=$!

wait -n "$fs" "$agent"
status=$?
[ "$stopping" = 1 ] && exit 0
echo "freeswitch-node: a process exited on its own (status $status); stopping the other" >&2
kill -TERM "$fs" "$agent" 2>/dev/null
wait
exit "$status"
