#!/usr/bin/env bash
# memory.sh - resident memory of Switchyard with a large zone and with many
# managed names, next to NSD on the same zone, plus load and check times.
#
# Usage: benches/memory.sh [RECORDS=1000000] [SERVICES=100000]
#   Writes a zone with RECORDS A records (and a config with SERVICES weighted
#   services over three regions) into a temp dir, starts each server on
#   127.0.0.1, waits until it answers, and prints VmRSS/VmHWM from /proc.
#   Needs dig and nsd (apt-get install bind9-dnsutils nsd); builds the release
#   binary unless SWITCHYARD_BIN is set. Only 127.0.0.1; kills only what it starts.
set -euo pipefail
RECORDS=${1:-1000000}
SERVICES=${2:-100000}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
if [ -z "${SWITCHYARD_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release --quiet)
    SWITCHYARD_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/switchyard
fi
WORK=$(mktemp -d -t sy-memory.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

zone() {  # $1 records
    printf '$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 127.0.0.1\n'
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "h%d A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256 }'
}

config() {  # $1 dir $2 port $3 services
    printf 'version = 1\n[server]\ndns_listen = ["127.0.0.1:%s"]\napi_listen = "127.0.0.1:0"\nzones_dir = "%s/zones"\nstate_dir = "%s/state"\nudp_workers = 1\n' "$2" "$1" "$1"
    if [ "$3" -gt 0 ]; then
        for r in 1 2 3; do printf '[regions.r%s]\nweight = %s\nendpoints = [{ address = "192.0.2.%s" }]\n' "$r" $((60 / r)) "$r"; done
        awk -v n="$3" 'BEGIN { for (i = 0; i < n; i++) printf "[services.\"s%d.big.test\"]\npolicy = \"weighted\"\nregions = [\"r1\", \"r2\", \"r3\"]\n", i }'
    fi
}

rss() {  # $1 pid -> "VmRSS VmHWM" in MiB (in that order: /proc lists VmHWM first)
    awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { printf "%.0f %.0f", r / 1024, h / 1024 }' "/proc/$1/status"
}

wait_answer() {  # $1 port $2 name $3 pid
    local i
    for i in $(seq 600); do
        dig @127.0.0.1 -p "$1" "$2" A +short +time=1 +tries=1 2>/dev/null | grep -q . && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

run_switchyard() {  # $1 label $2 services
    local dir=$WORK/$1 port=$((15390 + ${#PIDS[@]})) t0 t1 pid
    mkdir -p "$dir/zones" "$dir/state"
    cp "$WORK/big.test.zone" "$dir/zones/"
    config "$dir" "$port" "$2" > "$dir/switchyard.toml"
    t0=$(date +%s.%N)
    "$SWITCHYARD_BIN" check --config "$dir/switchyard.toml" > /dev/null
    t1=$(date +%s.%N)
    RUST_LOG=warn "$SWITCHYARD_BIN" serve --config "$dir/switchyard.toml" & pid=$!
    PIDS+=("$pid")
    local name=h$((RECORDS - 1)).big.test
    [ "$2" -gt 0 ] && name=s$(($2 - 1)).big.test
    wait_answer "$port" "$name" "$pid" || { echo "$1: did not answer" >&2; return 1; }
    local t2; t2=$(date +%s.%N)
    printf '| %s | %s | %s | %.1f | %.1f |\n' "$1" "$(rss "$pid" | awk '{print $1}')" "$(rss "$pid" | awk '{print $2}')" \
        "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_nsd() {
    local dir=$WORK/nsd port=15399 pid t0 t1
    mkdir -p "$dir"
    cp "$WORK/big.test.zone" "$dir/"
    cat > "$dir/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$port
    port: $port
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$dir"
    database: ""
    zonelistfile: "$dir/zone.list"
    pidfile: "$dir/nsd.pid"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir"
    logfile: "$dir/nsd.log"
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: big.test
    zonefile: "$dir/big.test.zone"
CONF
    t0=$(date +%s.%N)
    nsd -d -c "$dir/nsd.conf" & pid=$!
    PIDS+=("$pid")
    wait_answer "$port" "h$((RECORDS - 1)).big.test" "$pid" || { echo "nsd: did not answer" >&2; return 1; }
    t1=$(date +%s.%N)
    # NSD forks: count every process of the tree.
    local total=0 hwm=0 p
    for p in $(pgrep -g "$(ps -o pgid= "$pid" | tr -d ' ')" nsd); do
        total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
        hwm=$((hwm + $(awk '/^VmHWM/ {print $2}' "/proc/$p/status")))
    done
    printf '| nsd (all processes) | %d | %d | - | %.1f |\n' $((total / 1024)) $((hwm / 1024)) "$(echo "$t1 - $t0" | bc)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

zone "$RECORDS" > "$WORK/big.test.zone"
echo "## memory.sh: $RECORDS records, $SERVICES managed names ($(date -u +%Y-%m-%dT%H:%MZ))"
echo
echo "| server | RSS MiB | peak RSS MiB | check s | start to first answer s |"
echo "|---|---:|---:|---:|---:|"
run_switchyard "switchyard, zone only" 0
run_switchyard "switchyard, zone + services" "$SERVICES"
command -v nsd > /dev/null && run_nsd || echo "| nsd | not installed | | | |"
