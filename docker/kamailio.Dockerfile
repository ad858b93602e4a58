# Kamailio 5.6 from Debian with exactly the packages and the files the tests run: kamailio/
# and lua/ copied unchanged (test/integration/compose.test.ts compares the image's files with
# the repository's, byte for byte). Build from the repository root:
#   docker build -f docker/kamailio.Dockerfile -t elastic-sbc/kamailio:dev .
# CI passes a local base (no registry): --build-arg BASE_IMAGE=local/debian:bookworm --network host
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# The packages scripts/install-deps.sh installs for the tests (dispatcher, htable, jsonrpcs,
# xhttp, tm, ... are in `kamailio`; app_lua, db_postgres and nats in the three others).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      kamailio kamailio-lua-modules kamailio-postgres-modules kamailio-nats-modules \
 && rm -rf /var/lib/apt/lists/*
COPY kamailio/ /etc/kamailio/sbc/kamailio/
COPY lua/ /etc/kamailio/sbc/lua/
COPY docker/kamailio-entrypoint.sh /usr/local/bin/kamailio-entrypoint.sh
ENV SBC_LUA_SCRIPT=/etc/kamailio/sbc/lua/routing.lua
EXPOSE 5060/udp 5060/tcp 5071/tcp
# Run it with init (compose `init: true`): the entrypoint execs Kamailio, which then is PID 2.
ENTRYPOINT ["/usr/local/bin/kamailio-entrypoint.sh"]
# -DD -E: stay in the foreground and log to stderr, as a container should.
CMD ["kamailio", "-DD", "-E", "-f", "/etc/kamailio/sbc/kamailio/kamailio.cfg", "-m", "128", "-M", "16"]
