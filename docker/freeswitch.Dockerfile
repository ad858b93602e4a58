# A FreeSWITCH media node: FreeSWITCH from FREESWITCH_IMAGE (no official public image exists;
# freeswitch/README.md says how to build or choose one), the project's FreeSWITCH config
# (freeswitch/conf), the agent beside it, and a small supervisor running both
# (docker/freeswitch-node.sh). Build from the repository root, after the node image:
#   docker build -f docker/freeswitch.Dockerfile --build-arg FREESWITCH_IMAGE=<your image> \
#     -t elastic-sbc/freeswitch-node:dev .
#
# The agent and Node come from the node image (APP_IMAGE, docker/node.Dockerfile): Node is one
# binary that needs glibc and libstdc++6, which any Debian-based FreeSWITCH image has.
# CI's FREESWITCH_IMAGE is the project's FreeSWITCH stand-in (test/docker/standin.Dockerfile).
ARG APP_IMAGE=elastic-sbc/node:dev
ARG FREESWITCH_IMAGE
FROM ${APP_IMAGE} AS app

FROM ${FREESWITCH_IMAGE}
# Where the base keeps its configuration (Debian packages: /etc/freeswitch; a source build:
# /usr/local/freeswitch/conf). The project's files are laid over it: the stock files they do
# not replace stay.
ARG FREESWITCH_CONF_DIR=/etc/freeswitch
COPY --from=app /usr/local/bin/node /usr/local/bin/node
COPY --from=app /app /opt/sbc
COPY freeswitch/conf/ ${FREESWITCH_CONF_DIR}/
COPY docker/freeswitch-node.sh /usr/local/bin/freeswitch-node.sh
# vars.xml includes sbc_vars.xml (addresses and the ESL password from the environment); a base
# without a vars.xml (the CI stand-in) gets one holding only that include.
RUN cd "${FREESWITCH_CONF_DIR}" \
 && if [ ! -f vars.xml ]; then printf '<include>\n</include>\n' > vars.xml; fi \
 && if ! grep -q 'data="sbc_vars.xml"' vars.xml; then \
      sed -i 's#</include>#  <X-PRE-PROCESS cmd="include" data="sbc_vars.xml"/>\n</include>#' vars.xml; fi \
 && grep -q 'data="sbc_vars.xml"' vars.xml
ENV FREESWITCH_CONF_DIR=${FREESWITCH_CONF_DIR}
# Kamailio sends calls to the profile's SIP port; RTP uses 16384-16484/udp
# (rtp-start-port/rtp-end-port in switch.conf.xml).
EXPOSE 5060/udp 5060/tcp
# Healthy once FreeSWITCH's event socket accepts (bash's /dev/tcp: no client tools needed).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8021"]
# Run it with init (compose `init: true`): the supervisor forwards SIGTERM to the agent first.
ENTRYPOINT ["/usr/local/bin/freeswitch-node.sh"]
CMD []
