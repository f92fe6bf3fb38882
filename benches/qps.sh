#!/usr/bin/env bash
# qps.sh - queries per second of the release Switchyard binary, measured on
# loopback with dnsperf against NSD (and the trivial echo responder as the
# upper bound) in the same run, by the shared peer benchmark.
#
# Usage: benches/qps.sh [peers.sh options]
#
#   Builds `cargo build --release`, then runs
#       peers.sh -s nsd,echo -m pinned,blast,tcp --run switchyard='...' [options]
#   where the --run command serves peers.sh's zone ({zone}, origin example.test.)
#   from {dir}/zones/example.test.zone with a generated {dir}/switchyard.toml
#   (dns_listen 127.0.0.1:{port}, udp_workers {threads}). Any option given here
#   is passed on after the defaults, so it overrides them, e.g.
#       benches/qps.sh -r 2 -l 8                 # shorter runs
#       benches/qps.sh -s nsd,knot,echo -m pinned,unpinned
#       benches/qps.sh --no-install -o /tmp/qps.tsv
#   See `peers.sh -h` for every option and for what each table column means
#   (QPS median/min/max, ratio vs NSD, latency, CPU, server µs/query, loss).
#
# Environment:
#   SWITCHYARD_RRL=on|off     response rate limiting in the benchmarked server
#                     (default on, with responses_per_second = 1000000 so the
#                     limiter does its bookkeeping for every answer but never
#                     drops one: the load comes from one address, which the
#                     default 200/s would reduce to slips)
#   SWITCHYARD_RRL_AB=1  also run `switchyard-norrl` with `[rrl] enabled =
#                     false`, interleaved with `switchyard`: what RRL costs
#   SWITCHYARD_METRICS_AB=1  also run a second Switchyard target,
#                     `switchyard-nometrics`, with `[metrics] query_metrics = false`,
#                     interleaved with `switchyard` (query metrics on, the default):
#                     what recording per-query metrics costs in QPS
#   PEERS_SH          peers.sh to use (default: ../../shared/bench/peers.sh
#                     relative to this script, i.e. next to the repository)
#   SWITCHYARD_BIN    use this binary instead of building one
#   CARGO_TARGET_DIR  honoured when locating the release binary
#
# peers.sh installs its packages with apt-get on first use (needs root), pins
# servers to CPU 1 and the client to CPU 0, and only kills what it started.
# The results table goes to stdout, progress to stderr.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PEERS_SH=${PEERS_SH:-$HERE/../../shared/bench/peers.sh}
[ -f "$PEERS_SH" ] || { echo "qps.sh: peers.sh not found at $PEERS_SH (set PEERS_SH)" >&2; exit 1; }

if [ -n "${SWITCHYARD_BIN:-}" ]; then
    BIN=$SWITCHYARD_BIN
else
    (cd "$REPO" && cargo build --release --quiet)
    target=${CARGO_TARGET_DIR:-target}
    case $target in /*) ;; *) target=$REPO/$target ;; esac
    BIN=$target/release/switchyard
fi
[ -x "$BIN" ] || { echo "qps.sh: no executable at $BIN" >&2; exit 1; }
case $BIN in /*) ;; *) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;; esac

# peers.sh substitutes {zone} {port} {threads} {dir} and runs the command,
# pinned with taskset in the pinned phases. The launcher writes Switchyard's
# config next to a copy of the zone, then execs the server in its place.
# With SWITCHYARD_APP=weighted (the default) the zone's static `app` RRset
# becomes a weighted service over three regions (50/30/20), like gdnsd's
# DYNA weighted!app and PowerDNS's pickwrandom in the `app` phase; set
# SWITCHYARD_APP=static to serve the static RRset instead.
LAUNCHER=$(mktemp -t switchyard-launch.XXXXXX)
trap 'rm -f "$LAUNCHER"' EXIT
cat > "$LAUNCHER" <<LAUNCH
#!/bin/sh
set -e
zone=\$1 port=\$2 threads=\$3 dir=\$4 query_metrics=\${5:-true} rrl=\${6:-${SWITCHYARD_RRL:-on}}
mkdir -p "\$dir/zones" "\$dir/state"
cat > "\$dir/switchyard.toml" <<CONF
version = 1
[server]
dns_listen = ["127.0.0.1:\$port"]
api_listen = "127.0.0.1:0"
zones_dir = "\$dir/zones"
state_dir = "\$dir/state"
udp_workers = \$threads
[metrics]
query_metrics = \$query_metrics
[log]
level = "warn"
CONF
if [ "\$rrl" = on ]; then
    printf '[rrl]\nresponses_per_second = 1000000\n' >> "\$dir/switchyard.toml"
else
    printf '[rrl]\nenabled = false\n' >> "\$dir/switchyard.toml"
fi
if [ "${SWITCHYARD_APP:-weighted}" = weighted ]; then
    grep -v '^app ' "\$zone" > "\$dir/zones/example.test.zone"
    cat >> "\$dir/switchyard.toml" <<CONF
[regions.region1]
weight = 50
endpoints = [{ address = "192.0.2.1" }]
[regions.region2]
weight = 30
endpoints = [{ address = "192.0.2.2" }]
[regions.region3]
weight = 20
endpoints = [{ address = "192.0.2.3" }]
[services."app.example.test"]
policy = "weighted"
ttl = 30
regions = ["region1", "region2", "region3"]
CONF
else
    cp "\$zone" "\$dir/zones/example.test.zone"
fi
exec "$BIN" serve --config "\$dir/switchyard.toml"
LAUNCH
chmod +x "$LAUNCHER"
RUN="$LAUNCHER {zone} {port} {threads} {dir}"
EXTRA=()
if [ "${SWITCHYARD_METRICS_AB:-0}" = 1 ]; then
    EXTRA=(--run "switchyard-nometrics=$RUN false")
fi
if [ "${SWITCHYARD_RRL_AB:-0}" = 1 ]; then
    EXTRA+=(--run "switchyard-norrl=$RUN true off")
fi

echo "qps.sh: $BIN ($(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)), peers: $PEERS_SH" >&2
bash "$PEERS_SH" -s nsd,echo -m pinned,app,blast,tcp --run "switchyard=$RUN" "${EXTRA[@]}" "$@"
