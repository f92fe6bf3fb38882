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
# The example config keeps state in ../state relative to config/: give the
# unprivileged user that directory.
RUN mkdir -p /etc/switchyard/state && chown switchyard /etc/switchyard/state \
    && sed -i 's/127.0.0.1:5300", "\[::1\]:5300"/0.0.0.0:5300", "[::]:5300"/; s/api_listen = "127.0.0.1:8053"/api_listen = "0.0.0.0:8053"/' /etc/switchyard/config/switchyard.toml \
    && switchyard check --config /etc/switchyard/config/switchyard.toml
USER switchyard
EXPOSE 5300/udp 5300/tcp 8053/tcp
ENTRYPOINT ["switchyard"]
CMD ["serve", "--config", "/etc/switchyard/config/switchyard.toml"]
