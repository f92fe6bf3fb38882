#!/usr/bin/env bash
# dnssec_qps.sh - loopback UDP blast against one signed Switchyard: the
# same queries with and without the DO bit, interleaved in one run, so the
# ratio (DO / plain) is measured under the same load.
#
# Usage: benches/dnssec_qps.sh [seconds per run, default 10] [rounds, default 3]
#
# Serves the repository's zone and config (example.com signed with a fresh
# ECDSA P-256 key, [rrl] off: the blast comes from one address) on a free
# loopback port (one UDP worker pinned to CPU 1), then for each round runs
# benches/dnssec_blast.c (a sendmmsg/recvmmsg sender pinned to CPU 0, 256
# queries outstanding; built with cc) on
#   static   www.example.com A    (two A records + one RRSIG with DO)
#   weighted app.example.com A    (a policy decision per query)
# each plain (EDNS, no DO) and with DO. Prints median QPS per case, mean
# response size and the ratio. DNSSEC_QPS_CLIENT=dnsperf uses dnsperf
# (-c 8 -q 200, unpinned) instead. The server is started and stopped by
# PID; nothing else is touched.
#
# Environment: SWITCHYARD_BIN (else `cargo build --release` and use it).
set -euo pipefail

SECS=${1:-10}
ROUNDS=${2:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CLIENT=${DNSSEC_QPS_CLIENT:-blast}
if [ "$CLIENT" = dnsperf ]; then
    command -v dnsperf >/dev/null || { echo "dnssec_qps.sh: dnsperf not found (apt-get install dnsperf)" >&2; exit 1; }
fi
if [ -n "${SWITCHYARD_BIN:-}" ]; then
    BIN=$SWITCHYARD_BIN
else
    (cd "$REPO" && cargo build --release --quiet)
    BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/switchyard
fi

DIR=$(mktemp -d -t switchyard-dnssec-qps.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$DIR"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$DIR/zones" "$DIR/state"
cp "$REPO/zones/example.com.zone" "$DIR/zones/"
cp "$REPO/config/tokens.example" "$DIR/"
sed -e "s|^dns_listen = .*|dns_listen = [\"127.0.0.1:$PORT\"]|" \
    -e 's|^api_listen = .*|api_listen = "127.0.0.1:0"|' \
    -e 's|"../zones"|"zones"|' -e 's|"../state"|"state"|' \
    "$REPO/config/switchyard.toml" > "$DIR/switchyard.toml"
[ "$CLIENT" = blast ] && cc -O2 -o "$DIR/dnssec_blast" "$HERE/dnssec_blast.c"
sed -i 's|^\[server\]|[server]\nudp_workers = 1|' "$DIR/switchyard.toml"
cat >> "$DIR/switchyard.toml" <<CONF

[log]
level = "warn"

[rrl]
enabled = false

[dnssec]
[dnssec.zones."example.com."]
CONF
"$BIN" dnssec keygen example.com. --config "$DIR/switchyard.toml" >/dev/null
"$BIN" check --config "$DIR/switchyard.toml" >/dev/null 2>&1
taskset -c 1 "$BIN" serve --config "$DIR/switchyard.toml" >"$DIR/serve.log" 2>&1 &
PID=$!
for _ in $(seq 50); do
    dig +short +time=1 +tries=1 @127.0.0.1 -p "$PORT" www.example.com A >/dev/null 2>&1 && break
    sleep 0.2
done

echo "www.example.com A" > "$DIR/static.txt"
echo "app.example.com A" > "$DIR/weighted.txt"

run() { # case file, flags (-e plain, -D with DO); prints QPS
    if [ "$CLIENT" = dnsperf ]; then
        dnsperf -s 127.0.0.1 -p "$PORT" -d "$1" -l "$SECS" -c 8 -q 200 $2 2>/dev/null \
            | awk '/Queries per second:/ {print $4}'
    else
        read -r name qtype < "$1"
        local dnssec_ok=0
        [ "$2" = -D ] && dnssec_ok=1
        taskset -c 0 "$DIR/dnssec_blast" "$PORT" "$SECS" "$name" 1 "$dnssec_ok" 32 256 \
            | tee -a "$DIR/blast.log" | sed -n 's/.*qps=\([0-9.]*\).*/\1/p'
    fi
}

declare -A RESULTS
for round in $(seq "$ROUNDS"); do
    for case in static weighted; do
        for mode in plain do; do
            flags=-e
            [ "$mode" = do ] && flags=-D
            qps=$(run "$DIR/$case.txt" "$flags")
            RESULTS[$case-$mode]="${RESULTS[$case-$mode]:-} $qps"
            echo "round $round $case $mode: $qps" >&2
        done
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf "case\tplain_qps\tdo_qps\tdo/plain\n"
for case in static weighted; do
    p=$(echo "${RESULTS[$case-plain]}" | median)
    d=$(echo "${RESULTS[$case-do]}" | median)
    printf "%s\t%.0f\t%.0f\t%.3f\n" "$case" "$p" "$d" "$(awk -v a="$d" -v b="$p" 'BEGIN {print a / b}')"
done
[ -f "$DIR/blast.log" ] && echo "mean response bytes (plain, DO alternate): $(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$DIR/blast.log" | head -4 | tr '\n' ' ')"
