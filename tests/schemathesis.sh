#!/usr/bin/env bash
# API contract check: starts the real binary on the example config (a temp
# copy, on free loopback ports), runs schemathesis against its own
# /v1/openapi.json with every check and every phase (stateful included,
# following the document's `links`), stops the server by PID, and fails on
# any failure. Bounded: a fixed seed, few examples per operation, and a time
# budget, so a run takes about a minute and a half on two cores.
#
# Without schemathesis (`st`) it skips with a reason, unless
# SWITCHYARD_REQUIRE_SCHEMATHESIS=1 (CI), where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

ST="${SCHEMATHESIS:-st}"
if ! command -v "$ST" >/dev/null 2>&1; then
    if [ "${SWITCHYARD_REQUIRE_SCHEMATHESIS:-0}" = 1 ]; then
        echo "schemathesis: '$ST' not found and SWITCHYARD_REQUIRE_SCHEMATHESIS=1" >&2
        exit 1
    fi
    echo "schemathesis: skipped: '$ST' not found (pip install schemathesis)"
    exit 0
fi

BIN="${SWITCHYARD_BIN:-target/debug/switchyard}"
[ -x "$BIN" ] || cargo build --quiet
TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Free loopback ports, chosen by the kernel.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT="$(free_port)"
DNS_PORT="$(free_port)"

# The example config, moved to the temp dir and the free ports; paths stay
# relative (config/ next to zones/ and state/, as in the repository).
cp -r config zones "$TMP/"
mkdir -p "$TMP/state"
sed -i \
    -e "s|^dns_listen = .*|dns_listen = [\"127.0.0.1:$DNS_PORT\"]|" \
    -e "s|^api_listen = .*|api_listen = \"127.0.0.1:$API_PORT\"|" \
    "$TMP/config/switchyard.toml"
TOKEN="$(grep -v '^#' "$TMP/config/tokens.example" | head -1 | cut -d: -f2-)"

"$BIN" serve --config "$TMP/config/switchyard.toml" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$API_PORT"
for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('$BASE/readyz', timeout=1)" 2>/dev/null; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$TMP/server.log" >&2; echo "schemathesis: server exited" >&2; exit 1; fi
    sleep 0.2
done

# Two runs over one server: the per-operation phases, then the stateful
# phase (sequences of operations following the document's links) with more
# scenarios, as it is cheap and is what reaches real regions, overrides and
# drills. A fixed seed and deterministic generation: the same requests every run.
run_st() {
    "$ST" run "$BASE/v1/openapi.json" \
        --checks all \
        --header "Authorization: Bearer $TOKEN" \
        --seed "${SCHEMATHESIS_SEED:-1313}" \
        --generation-deterministic \
        --workers 1 \
        --request-timeout 10 \
        --no-color \
        "$@"
}
status=0
run_st --phases examples,coverage,fuzzing --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" || status=$?
# The stateful phase stops after about a hundred scenarios per pass; a time
# budget makes it repeat (each pass from the fixed seed) so the links reach
# real regions, overrides and drills thousands of times.
run_st --phases stateful --max-examples "${SCHEMATHESIS_STATEFUL_EXAMPLES:-300}" \
    --max-time "${SCHEMATHESIS_STATEFUL_SECS:-60}" || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- server log (last 40 lines) ---" >&2
    tail -40 "$TMP/server.log" >&2
fi
exit "$status"
