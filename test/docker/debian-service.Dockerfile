# A test service from Debian's own package (redis-server, nats-server): the same program and
# version the local-binary path runs, in an image built with no registry. The integration
# tests' global setup (test/support/testEngine.ts) builds it on the debootstrap base with
# `--network host` (apt reaches the mirror the host uses) and runs it with host networking, the
# command naming a free loopback port.
#
#   docker build -f debian-service.Dockerfile --build-arg BASE_IMAGE=local/debian:bookworm \
#     --build-arg PACKAGES=redis-server -t local/sbc-redis:test .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG PACKAGES
RUN test -n "$PACKAGES" \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES \
 && rm -rf /var/lib/apt/lists/*
