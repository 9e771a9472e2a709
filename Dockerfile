# cogsync as a container image, built from source: Docker alone builds it, on any host
# (macOS, ARM, any Linux), with no Rust toolchain of your own.
#
#   docker build -t cogsync .
#   docker run -p 8080:8080 -p 127.0.0.1:8081:8081 -v cogsync-data:/data cogsync
#
# One build argument (docs/container.md):
#   RUST_IMAGE     the build stage's base: Rust (cargo, rustc), a C compiler and libc headers
#                  on Debian bookworm, the runtime's release (a newer glibc than the runtime's
#                  makes a binary that does not start). Default: the official Rust image, with
#                  the toolchain CI tests cogsync with.

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm

# Debian's CA certificates, of which the image keeps the bundle alone: HTTPS to Kinesis, SNS,
# Lambda and webhook triggers, and TLS to PostgreSQL, verify against it.
FROM debian:bookworm-slim AS certificates
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# The binary: the release profile (stripped, whole-program optimised), with the versions
# Cargo.lock records (--locked).
FROM ${RUST_IMAGE} AS build
WORKDIR /build
# The dependencies first, in a layer of their own that only a change to the manifests or the
# lock file rebuilds: the workspace's manifests over empty sources (bench/ is a member, so its
# manifest and targets must exist, but it is not built).
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/
RUN mkdir -p src bench/src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs bench/src/lib.rs \
 && echo 'fn main() {}' > bench/src/main.rs \
 && cargo build --release --locked --bin cogsync
# Then the server itself. The sources are touched so that Cargo, which compares times, never
# takes them for older than the empty ones above; the binary leaves target/ (and the layer
# keeps none of this build's intermediate files).
COPY src src
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin cogsync \
 && cp target/release/cogsync /usr/local/bin/cogsync \
 && rm -rf target

FROM debian:bookworm-slim
COPY --from=certificates /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# An unprivileged user owning the data directory (0700, as cogsync keeps it).
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin cogsync \
 && mkdir -m 0700 /data \
 && chown cogsync:cogsync /data

COPY --from=build /usr/local/bin/cogsync /usr/local/bin/cogsync

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
