# syntax=docker/dockerfile:1
# Build stage: compile the release binary with the same toolchain family CI uses.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin switchyard

# Run stage: a small Debian with only the binary, the example config and zones.
FROM debian:bookworm-slim
RUN useradd --system --uid 10053 --home-dir /var/lib/switchyard --create-home switchyard
COPY --from=build /src/target/release/switchyard /usr/local/bin/switchyard
COPY config /etc/switchyard/config
COPY zones /etc/switchyard/zones
# - DNS on every address of the container (port 5300: no root needed).
# - The control API stays on loopback (127.0.0.1:8053, as in the example
#   config): publishing it is a decision the operator makes by changing
#   `api_listen`, together with real tokens.
# - Tokens come from /etc/switchyard/tokens, which holds the example token
#   until the operator mounts their own: with SWITCHYARD_REFUSE_EXAMPLE_TOKEN
#   the server refuses to start on the example token.
# - Reads need a token (protect_reads defaults to true; the example config's
#   `protect_reads = false` is for local trials only).
# - The example config keeps state in ../state relative to config/: give the
#   unprivileged user that directory.
RUN mkdir -p /etc/switchyard/state && chown switchyard /etc/switchyard/state \
    && cp /etc/switchyard/config/tokens.example /etc/switchyard/tokens \
    && sed -i 's/127.0.0.1:5300", "\[::1\]:5300"/0.0.0.0:5300", "[::]:5300"/; s#^tokens_file = .*#tokens_file = "../tokens"#; /^protect_reads = false/d' /etc/switchyard/config/switchyard.toml \
    && grep -q '^api_listen = "127.0.0.1:8053"' /etc/switchyard/config/switchyard.toml \
    && switchyard check --config /etc/switchyard/config/switchyard.toml
ENV SWITCHYARD_REFUSE_EXAMPLE_TOKEN=1
USER switchyard
EXPOSE 5300/udp 5300/tcp
ENTRYPOINT ["switchyard"]
CMD ["serve", "--config", "/etc/switchyard/config/switchyard.toml"]
