# Prometheus from Debian's package, with the shipped scrape config and alert rules: the same
# files test/integration/prometheus.test.ts checks with promtool and runs against a control plane.
# Build from the repository root: docker build -f docker/prometheus.Dockerfile -t sbc-prometheus .
# CI passes a local base (no registry): --build-arg BASE_IMAGE=local/debian:bookworm
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# policy-rc.d: the package's postinst must not start a Prometheus inside the build.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && mkdir -p /var/lib/prometheus/metrics2 \
 && chown -R prometheus:prometheus /var/lib/prometheus
COPY compose/prometheus/prometheus.yml /etc/prometheus/prometheus.yml
COPY compose/prometheus/alerts.yml /etc/prometheus/alerts.yml
# Fail the build, not the start, on a config or rule Prometheus would refuse.
RUN promtool check config /etc/prometheus/prometheus.yml
USER prometheus
EXPOSE 9090
VOLUME ["/var/lib/prometheus"]
# promtool 2.42 has no "check healthy"; an instant query answers only once the server serves.
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["promtool", "query", "instant", "http://127.0.0.1:9090", "vector(1)"]
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/var/lib/prometheus/metrics2", "--web.listen-address=0.0.0.0:9090", "--web.enable-lifecycle"]
