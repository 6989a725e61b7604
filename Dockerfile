# syntax=docker/dockerfile:1
# Build stage: compile dependencies first (cached while only src/ changes), then the gateway.
FROM rust:1-slim-bookworm AS builder
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src config templates \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs config/default.toml \
    && cargo build --release --locked \
    && rm -rf src
COPY config config
COPY templates templates
COPY src src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Runtime stage: a small Debian with CA certificates and an unprivileged user.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app gateway
WORKDIR /app
COPY --from=builder /build/target/release/loyalty-gateway /usr/local/bin/loyalty-gateway
COPY config config
COPY templates templates
USER gateway
# The embedded defaults (console provider, demo keys) unless LOYALTY_CONFIG names another file,
# such as /app/config/production.toml; Redis is a separate service (see docker-compose.yml).
ENV LOYALTY_CONFIG=/app/config/default.toml \
    LOYALTY__SERVER__BIND=0.0.0.0:8080 \
    LOYALTY__REDIS__EMBEDDED=false
EXPOSE 8080
# Probes: GET /healthz (liveness) and GET /readyz (Redis reachable).
ENTRYPOINT ["loyalty-gateway"]
CMD ["serve"]
