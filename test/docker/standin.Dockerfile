# A stand-in FreeSWITCH node for tests: the FreeSWITCH stand-in (test/standin) and the shipped
# agent (src/agent) side by side in one container, the way the agent runs beside a real
# FreeSWITCH. The build context is assembled by test/support/dockerEngine.ts
# (buildStandinImage): the host's Node binary as `node`, and `app/` with the two esbuild
# bundles (agent.mjs, standin.mjs), the stand-in's event templates, entrypoint.sh and the media node's supervisor (docker/freeswitch-node.sh, which runs both). No RUN
# step: nothing is fetched at build time, so it builds on an engine with no registry and no
# network for builds.
#
#   docker build -f standin.Dockerfile --build-arg BASE_IMAGE=local/debian:bookworm -t sbc-standin CONTEXT
#
# The base needs glibc and libstdc++6 (Node's only libraries beyond libc): any Debian 12
# image has both (apt depends on libstdc++6, so even a debootstrap minbase has it).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY node /usr/local/bin/node
COPY app/ /app/
# Run it with init (docker run --init, compose `init: true`, HostConfig.Init): the entrypoint is
# a shell, and the init process forwards SIGTERM to it.
ENTRYPOINT ["/app/entrypoint.sh"]
