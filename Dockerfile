# RustMQ: one image for every role. The entrypoint is the rustmq CLI; pick the role with the
# command, e.g. `docker run rustmq standalone` or `docker run rustmq broker --config /etc/rustmq/broker.toml`.
FROM node:20-bookworm-slim AS build
RUN npm install -g deno@2.9.6
WORKDIR /src
COPY deno.json deno.lock ./
COPY . .
RUN deno install && deno task compile

FROM debian:bookworm-slim
# curl serves the HEALTHCHECK; the image has no other HTTP client.
RUN apt-get update && apt-get install -y --no-install-recommends liburing2 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# Run as an unprivileged user that owns only the data volume.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/rustmq --shell /usr/sbin/nologin rustmq \
    && mkdir -p /var/lib/rustmq && chown rustmq:rustmq /var/lib/rustmq
COPY --from=build /src/dist/rustmq /usr/local/bin/rustmq
COPY config/ /etc/rustmq/
VOLUME ["/var/lib/rustmq"]
USER rustmq:rustmq
# 9092 Kafka over TCP and QUIC (UDP), 9093 replication, 9094 controller gRPC, 9095 Raft, 9642 HTTP
EXPOSE 9092/tcp 9092/udp 9093 9094 9095 9642
# /health answers 200 while the process serves (also when degraded: it heals by itself).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:9642/health || exit 1
ENTRYPOINT ["/usr/local/bin/rustmq"]
CMD ["standalone", "--data", "/var/lib/rustmq"]
