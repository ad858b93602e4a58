#!/usr/bin/env bash
# Makes a fresh Debian 12 machine able to build, test and run the system: Kamailio 5.6 and
# its modules, sipp, PostgreSQL, Redis and NATS from Debian's packages (installed only when
# absent), the services started when not already listening, then `npm ci`. Also docker.io,
# debootstrap and docker-compose: the docker provisioner's integration test starts its own
# private dockerd (test/support/dockerEngine.ts); no daemon is started here. Also prometheus
# (promtool and a real Prometheus for the dashboard and alert-rule tests; no service is started)
# and chromium (the operator console's browser test, driven by playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in kamailio kamailio-lua-modules kamailio-postgres-modules kamailio-nats-modules sip-tester \
         postgresql redis-server nats-server docker-compose docker.io debootstrap prometheus chromium; do
  have "$p" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "installing: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! port_open 6379; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
if ! port_open 4222; then
  echo "starting NATS"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
for _ in $(seq 1 50); do port_open 5432 && port_open 6379 && port_open 4222 && break; sleep 0.2; done
# The tests and the local run connect as user postgres over TCP with trust auth.
psql -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1' >/dev/null

npm ci --no-audit --no-fund
