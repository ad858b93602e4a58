# PostgreSQL 15 from Debian's package for the integration tests (see debian-service.Dockerfile):
# a cluster made at build time with trust authentication for user postgres, like the server the
# local-binary path uses. Durability is off (fsync, synchronous_commit, full_page_writes): the
# data lives only as long as one test run.
#
#   docker run --network host local/sbc-postgres:test -p <port>
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
USER postgres
RUN /usr/lib/postgresql/15/bin/initdb -D /var/lib/postgresql/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8
ENTRYPOINT ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/data", \
  "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "fsync=off", \
  "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
