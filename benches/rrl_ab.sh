#!/usr/bin/env bash
# rrl_ab.sh - what response rate limiting costs in blast QPS: the release
# binary with `[rrl]` on (rate raised to 1,000,000/s so every answer is
# counted but none dropped) and off, interleaved, each loaded by the shared
# benchmark's cheap C client (udpecho blast: sendmmsg/recvmmsg, 256
# outstanding, www0..www999.example.test A) with the server pinned to CPU 1
# and the client to CPU 0, as in qps.sh's blast phase. Without installing
# the peers qps.sh compares against (for that: SWITCHYARD_RRL_AB=1
# benches/qps.sh -m blast).
#
# Usage: benches/rrl_ab.sh [SECONDS_PER_RUN] [REPS]     (default 10 s, 3 reps)
# Prints each run's QPS and the median ratio on/off.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
LEN=${1:-10}
REPS=${2:-3}
UDPECHO_C=${UDPECHO_C:-$REPO/../shared/bench/udpecho.c}
BIN=${SWITCHYARD_BIN:-$REPO/target/release/switchyard}
[ -x "$BIN" ] || (cd "$REPO" && cargo build --release --quiet)
WORK=$(mktemp -d -t rrl-ab.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cc -O2 -o "$WORK/udpecho" "$UDPECHO_C"
mkdir -p "$WORK/zones" "$WORK/state"
{
    echo '$ORIGIN example.test.'
    echo '$TTL 300'
    echo '@ SOA ns1 host 1 7200 900 1209600 300'
    echo '@ NS ns1'
    echo 'ns1 A 192.0.2.53'
    for i in $(seq 0 999); do echo "www$i A 192.0.2.$((i % 250 + 1))"; done
} > "$WORK/zones/example.test.zone"
run() { # $1 = on|off; prints QPS
    local port=$((20000 + RANDOM % 20000)) rrl
    if [ "$1" = on ]; then rrl='responses_per_second = 1000000'; else rrl='enabled = false'; fi
    printf 'version = 1\n[server]\ndns_listen = ["127.0.0.1:%s"]\napi_listen = "127.0.0.1:0"\nzones_dir = "zones"\nstate_dir = "state"\nudp_workers = 1\n[log]\nlevel = "warn"\n[rrl]\n%s\n' \
        "$port" "$rrl" > "$WORK/switchyard.toml"
    taskset -c 1 "$BIN" serve --config "$WORK/switchyard.toml" >/dev/null 2>&1 &
    PID=$!
    sleep 1
    taskset -c 0 "$WORK/udpecho" blast "$port" "$LEN" 32 256 | sed -n 's/.*qps=\([0-9.]*\).*/\1/p'
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}
on=(); off=()
for r in $(seq 1 "$REPS"); do
    q=$(run on); on+=("$q"); echo "rep $r: rrl on  $q qps" >&2
    q=$(run off); off+=("$q"); echo "rep $r: rrl off $q qps" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mon=$(median "${on[@]}"); moff=$(median "${off[@]}")
echo "rrl on: median $mon qps (${on[*]}); rrl off: median $moff qps (${off[*]}); ratio $(awk -v a="$mon" -v b="$moff" 'BEGIN {printf "%.3f", a / b}')"
