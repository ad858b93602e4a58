# Kamailio 5.6 from Debian with the same kamailio.cfg and routing.lua the tests use.
# Build from the repository root: docker build -f docker/kamailio.Dockerfile -t sbc-kamailio .
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends kamailio kamailio-lua-modules kamailio-postgres-modules kamailio-nats-modules \
 && rm -rf /var/lib/apt/lists/*
COPY kamailio/kamailio.cfg /etc/kamailio/kamailio.cfg
COPY lua/routing.lua /etc/kamailio/routing.lua
ENV SBC_LUA_SCRIPT=/etc/kamailio/routing.lua
EXPOSE 5060/udp 5060/tcp 5071/tcp
# -DD -E: stay in the foreground and log to stderr, as a container should.
CMD ["kamailio", "-DD", "-E", "-f", "/etc/kamailio/kamailio.cfg", "-m", "128", "-M", "16"]
