#!/usr/bin/env bash
# cluster.sh - cluster benchmark: three Switchyard processes sharing state
# through a 3-member etcd cluster on loopback (and one local-store process
# for comparison). Builds the release binary, then runs benches/cluster.rs:
#   - write-to-answer propagation on the other instances (p50/p99, 200 writes)
#   - time from etcd quorum restored to writes accepted (5 rounds)
#   - query throughput while 50 writes/s stream through the watch, as a ratio
#     to the local store in the same run (interleaved, median of 3 rounds)
#
# Needs `etcd` on PATH (Debian: apt-get install etcd-server).
# Environment: SWITCHYARD_BIN (use this binary instead of building one),
# CLUSTER_BENCH_SECS (seconds per throughput run, default 4),
# CARGO_TARGET_DIR (honoured when locating the release binary).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
command -v etcd >/dev/null || { echo "cluster.sh: etcd not on PATH (apt-get install etcd-server)" >&2; exit 1; }
if [ -z "${SWITCHYARD_BIN:-}" ]; then
    cargo build --release >&2
    SWITCHYARD_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/switchyard"
fi
export SWITCHYARD_BIN
exec cargo bench --bench cluster
