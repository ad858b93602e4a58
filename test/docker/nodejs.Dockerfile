# Node on the local base, for CI's builds of docker/node.Dockerfile (its NODE_IMAGE): Debian's
# nodejs is 18, too old, and no registry can be reached, so the host's own Node binary (the one
# running the tests, >= 20.19) is copied in, as the stand-in image does. No RUN step.
#
#   docker build -f nodejs.Dockerfile --build-arg BASE_IMAGE=local/debian:bookworm -t local/sbc-nodejs:test CONTEXT
# where CONTEXT holds the binary as `node` (test/support/composeCluster.ts assembles it).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY node /usr/local/bin/node
