# multitoken: a static-ish release binary on a slim Debian, run as a non-root
# user that owns the SQLite data directory.
#
#   docker build -t multitoken .
#   docker run -d -p 8000:8000 -v multitoken-data:/data multitoken
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

# ---------------------------------------------------------------- build ----
FROM rust:1-slim-bookworm AS build

# The C libraries are compiled from source by their -sys crates: SQLite and
# libpq need a C compiler (already in the image); vendored OpenSSL also needs
# make and a full perl.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make perl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# The registry and target directory live in cache mounts, so a change to the
# sources recompiles only the crate itself; the binary is copied out of the
# mount within the same step. Only the service's package: the workspace's
# other member is the HTTP tests, whose copy of the binary is not wanted here.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --package multitoken \
    && cp target/release/multitoken /usr/local/bin/multitoken

# -------------------------------------------------------------- runtime ----
FROM debian:bookworm-slim

# CA certificates for TLS to PostgreSQL (sslmode=verify-full). The bundled
# OpenSSL looks under /usr/local/ssl by default, hence the SSL_CERT_* below.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 multitoken \
    && useradd --system --uid 10001 --gid multitoken --home-dir /data \
       --no-create-home --shell /usr/sbin/nologin multitoken \
    && mkdir /data \
    && chown multitoken:multitoken /data

COPY --from=build /usr/local/bin/multitoken /usr/local/bin/multitoken

# DL3064 matches "TOKEN" inside MULTITOKEN_BIND; nothing here is a secret.
# hadolint ignore=DL3064
ENV DATABASE_URL=sqlite:///data/multitoken.db \
    MULTITOKEN_BIND=0.0.0.0:8000 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_DIR=/etc/ssl/certs

# Declared after the chown so that a new volume starts owned by the user.
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8000

# The binary checks itself: GET /healthz on 127.0.0.1 at MULTITOKEN_BIND's
# port, exit 0 on 200 (no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["multitoken", "healthcheck"]

# `docker run IMAGE` serves; `docker run IMAGE user list` runs a command.
ENTRYPOINT ["multitoken"]
CMD ["serve"]
