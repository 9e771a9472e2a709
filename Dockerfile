# cogsync as a container image. Build the binary first, with the Rust toolchain, then the image:
#
#   cargo build --release
#   docker build -t cogsync .
#
# Run it with a volume for the data (see docs/container.md):
#
#   docker run -p 8080:8080 -p 127.0.0.1:8081:8081 -v cogsync-data:/data cogsync

# Debian's CA certificates, of which the image keeps the bundle alone: HTTPS to Kinesis, SNS,
# Lambda and webhook triggers, and TLS to PostgreSQL, verify against it.
FROM debian:bookworm-slim AS certificates
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM debian:bookworm-slim
COPY --from=certificates /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# An unprivileged user owning the data directory (0700, as cogsync keeps it).
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin cogsync \
 && mkdir -m 0700 /data \
 && chown cogsync:cogsync /data

COPY target/release/cogsync /usr/local/bin/cogsync

# Inside its own network namespace the container listens on every address; the binary's own
# defaults stay loopback. Every COGSYNC_* variable and flag works as it does for the binary.
ENV COGSYNC_LISTEN=0.0.0.0:8080 \
    COGSYNC_ADMIN_LISTEN=0.0.0.0:8081 \
    COGSYNC_DATA_DIR=/data

USER cogsync
WORKDIR /data
VOLUME ["/data"]
# 8080: the device API (Cognito Sync and Identity). 8081: health, metrics and the web console;
# publish it on a private address only.
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
    CMD ["cogsync", "healthcheck"]
ENTRYPOINT ["cogsync"]
CMD ["serve"]
