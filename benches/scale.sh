#!/usr/bin/env bash
# scale.sh - large configurations: load time, check time, steady memory and
# reload cost of Switchyard next to NSD and Knot, same data, same run, with
# the ratios to NSD and Knot. (benches/memory.sh runs this with its old
# arguments.)
#
# Usage: benches/scale.sh [CASES]
#   CASES (default "z100k z1m s1k s10k s100k"), any of:
#     z<N>  a zone of N records (A, with 5% CNAME, 2% MX, 3% TXT), no services
#     s<N>  N managed names (weighted and failover, 3 of 20 regions each) in
#           a small zone; NSD and Knot serve the same names as static A records
#   (k = 1,000, m = 1,000,000.)
#   For each case and server:
#     load     start to the last name answering (s), and the CPU time the
#              process tree used until then (user + system; on a shared
#              machine the fairer comparison);
#     check    `switchyard check` wall time (s), CPU time, peak RSS (MiB);
#     RSS/PSS  whole process tree 2 s after load (NSD forks: RSS double-counts
#              shared pages, PSS does not);
#     reload   zone serial bumped, reload asked (Switchyard SIGHUP, NSD SIGHUP,
#              Knot `knotc zone-reload`), until the new serial answers (s),
#              and the CPU time used until 2 s after that (work a server
#              does after answering the new serial, such as Switchyard's
#              template rebuild after a lean reload, counts);
#     peak     highest tree RSS sampled every 50 ms during the first reload
#              (for Switchyard also VmHWM, reset before the reload and read
#              2 s after the new serial answers), and peak/steady;
#     after    tree RSS 2 s after the first reload, and after RELOADS reloads
#              (each waits for its serial), to show whether memory stays flat.
#   A last table gives Switchyard's load, RSS, peak and check time as ratios
#   to NSD's and Knot's. For Switchyard with services, `scrape` = one
#   `GET /metrics` with the default `[metrics]` settings.
# Environment:
#   RELOADS=20          reloads per server (the first is the one timed)
#   SWITCHYARD_BIN      binary to test (default: cargo build --release)
#   SWITCHYARD_BEFORE   a second Switchyard binary (e.g. built from main) run
#                       in the same run as "switchyard-before"
#   BEFORE_RELOADS      its reload count (default RELOADS)
#   Needs dig, nsd, knot (apt-get install bind9-dnsutils nsd knot), curl and
#   GNU time; a missing NSD or Knot is reported and skipped. Only 127.0.0.1;
#   kills only what it starts; everything it writes is in one temp dir,
#   removed on exit.
set -euo pipefail
CASES=${1:-"z100k z1m s1k s10k s100k"}
RELOADS=${RELOADS:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
if [ -z "${SWITCHYARD_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release --quiet)
    SWITCHYARD_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/switchyard
fi
WORK=$(mktemp -d -t sy-scale.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=15440
API=15441

count() {  # 100k -> 100000
    local n=${1%[km]}
    case $1 in *k) echo $((n * 1000)) ;; *m) echo $((n * 1000000)) ;; *) echo "$n" ;; esac
}

soa() {  # $1 serial
    printf '$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster %s 3600 900 604800 300\n@ NS ns1\nns1 A 127.0.0.1\n' "$1"
}

zone_records() {  # $1 records: mostly A, some CNAME, MX, TXT
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) { m = i % 100
        if (m < 5) printf "c%d CNAME h%d\n", i, i + 1
        else if (m < 7) printf "m%d MX 10 h%d\n", i, i + 1
        else if (m < 10) printf "t%d TXT \"v=spf1 ip4:10.%d.%d.0/24 -all\"\n", i, int(i / 256) % 256, i % 256
        else printf "h%d A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256 } }'
}

service_records() {  # $1 services, as static records for NSD and Knot
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) for (r = 0; r < 3; r++) printf "s%d A 192.0.2.%d\n", i, (i + r) % 20 + 1 }'
}

last_name() {  # $1 case
    local n; n=$(count "${1#?}")
    case $1 in
        z*) echo "h$(( (n - 1) / 100 * 100 + 10 )).big.test" ;;
        s*) echo "s$((n - 1)).big.test" ;;
    esac
}

write_data() {  # $1 case $2 serial -> $WORK/data/big.test.zone (+ services.toml)
    local n; n=$(count "${1#?}")
    mkdir -p "$WORK/data"
    { soa "$2"; case $1 in z*) zone_records "$n" ;; s*) service_records "$n" ;; esac; } > "$WORK/data/static.zone"
    { soa "$2"; case $1 in z*) zone_records "$n" ;; esac; } > "$WORK/data/switchyard.zone"
    : > "$WORK/data/services.toml"
    if [ "${1:0:1}" = s ]; then
        for r in $(seq 1 20); do printf '[regions.r%s]\nweight = %s\nendpoints = [{ address = "192.0.2.%s" }]\n' "$r" $((r * 5)) "$r"; done
        awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) {
            a = i % 20 + 1; b = (i + 7) % 20 + 1; c = (i + 13) % 20 + 1
            printf "[services.\"s%d.big.test\"]\npolicy = \"%s\"\nregions = [\"r%d\", \"r%d\", \"r%d\"]\n", i, (i % 2 ? "failover" : "weighted"), a, b, c } }'
    fi > "$WORK/data/services.toml"
}

bump_serial() {  # $1 file $2 serial
    sed -i "3s/hostmaster [0-9]*/hostmaster $2/" "$1"
}

tree() {  # $1 pid -> pids of the process and its descendants
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null || true); do tree "$c"; done
}

mem() {  # $1 pid -> "RSS PSS" in MiB, summed over the tree
    local rss=0 pss=0 p r s
    for p in $(tree "$1"); do
        r=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        s=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0}))
    done
    echo $((rss / 1024)) $((pss / 1024))
}

cpu() {  # $1 pid -> CPU seconds (user + system, reaped children included) of the tree
    local p t=0
    for p in $(tree "$1"); do
        t=$((t + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || echo 0)))
    done
    echo "$t $(getconf CLK_TCK)" | awk '{ printf "%.1f", $1 / $2 }'
}

serial_is() {  # $1 serial: does the server on $PORT answer it?
    [ "$(dig @127.0.0.1 -p $PORT big.test SOA +short +time=1 +tries=1 2>/dev/null | awk '{print $3}')" = "$1" ]
}

wait_for() {  # $1 pid $2 command...: poll until it succeeds (10 min at most)
    local pid=$1 i; shift
    for i in $(seq 12000); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

answers() { dig @127.0.0.1 -p $PORT "$1" A +short +time=1 +tries=1 2>/dev/null | grep -q .; }

# measure LABEL PID RELOAD_CMD FILE LOAD [SCRAPE] [CHECK] [RELOADS]: load
# already waited; prints a table row and records the numbers for the ratios.
measure() {
    local label=$1 pid=$2 reload=$3 file=$4 load=$5 extra=${6:--} check=${7:--} reloads=${8:-$RELOADS} load_cpu=${9:--}
    sleep 2
    local steady; steady=$(mem "$pid")
    [ -w "/proc/$pid/clear_refs" ] && echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true
    local t0 t1 peak m serial=2 c0
    peak=$(mem "$pid" | awk '{print $1}')
    c0=$(cpu "$pid")
    bump_serial "$file" $serial
    t0=$(date +%s.%N)
    eval "$reload"
    while ! serial_is $serial; do
        kill -0 "$pid" 2>/dev/null || { echo "$label: died during reload" >&2; return 1; }
        m=$(mem "$pid" | awk '{print $1}'); [ "$m" -gt "$peak" ] && peak=$m
        sleep 0.05
        [ "$(echo "$(date +%s.%N) - $t0 > 600" | bc)" = 1 ] && { echo "$label: reload timed out" >&2; return 1; }
    done
    t1=$(date +%s.%N)
    # CPU and VmHWM 2 s after the new serial answers: a lean reload
    # (Switchyard, large zones) rebuilds its answer templates after that.
    sleep 2
    local reload_cpu; reload_cpu=$(echo "$(cpu "$pid") $c0" | awk '{ printf "%.1f", $1 - $2 }')
    if [ "${label%%-*}" = switchyard ]; then
        local hwm; hwm=$(awk '/^VmHWM/ {printf "%d", $2 / 1024}' "/proc/$pid/status")
        [ "$hwm" -gt "$peak" ] && peak=$hwm
    fi
    local after; after=$(mem "$pid")
    # The other reloads: each waits for its serial; memory read 2 s after the last.
    local r
    for r in $(seq 2 "$reloads"); do
        serial=$((serial + 1))
        bump_serial "$file" $serial
        eval "$reload"
        wait_for "$pid" serial_is $serial || { echo "$label: reload $r did not land" >&2; return 1; }
    done
    local last=${after% *}
    if [ "$reloads" -gt 1 ]; then sleep 2; last=$(mem "$pid" | awk '{print $1}'); fi
    local reload_s; reload_s=$(echo "$t1 - $t0" | bc)
    printf '| %s | %s | %.1f / %s | %s | %s | %s | %.1f / %s | %s | %.2f | %s | %s (%s) | %s |\n' "$CASE" "$label" "$load" "$load_cpu" "$check" \
        "${steady% *}" "${steady#* }" "$reload_s" "$reload_cpu" "$peak" "$(echo "$peak / ${steady% *}" | bc -l)" \
        "${after% *}" "$last" "$reloads" "$extra"
    echo "$CASE $label $load ${steady% *} ${steady#* } $peak ${check%% *} $load_cpu $reload_cpu" >> "$WORK/numbers"
}

# check_time BIN CONFIG -> "seconds (CPU seconds) / peak MiB" of `switchyard check`
check_time() {
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/check.time" "$1" check --config "$2" > /dev/null 2>&1 || { echo "failed"; return; }
    awk '{ printf "%.1f s (CPU %.1f s) / %d MiB", $1, $2 + $3, $4 / 1024 }' "$WORK/check.time"
}

run_switchyard() {  # $1 binary $2 label $3 reloads
    local bin=$1 label=$2 dir=$WORK/sy pid t0 t1
    rm -rf "$dir"; mkdir -p "$dir/zones" "$dir/state"
    cp "$WORK/data/switchyard.zone" "$dir/zones/big.test.zone"
    { printf 'version = 1\n[server]\ndns_listen = ["127.0.0.1:%s"]\napi_listen = "127.0.0.1:%s"\nzones_dir = "%s/zones"\nstate_dir = "%s/state"\nudp_workers = 1\n' \
        $PORT $API "$dir" "$dir"; cat "$WORK/data/services.toml"; } > "$dir/switchyard.toml"
    local check; check=$(check_time "$bin" "$dir/switchyard.toml")
    t0=$(date +%s.%N)
    RUST_LOG=warn "$bin" serve --config "$dir/switchyard.toml" & pid=$!
    PIDS+=("$pid")
    wait_for "$pid" answers "$LAST" || { echo "$label: did not answer" >&2; return 1; }
    t1=$(date +%s.%N)
    local scrape=-
    if [ "${CASE:0:1}" = s ]; then
        scrape=$(curl -s -o /dev/null -w '%{time_total}s/%{size_download}B' "http://127.0.0.1:$API/metrics")
    fi
    local load_cpu; load_cpu=$(cpu "$pid")
    measure "$label" "$pid" "kill -HUP $pid" "$dir/zones/big.test.zone" "$(echo "$t1 - $t0" | bc)" "$scrape" "$check" "$3" "$load_cpu"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_nsd() {
    local dir=$WORK/nsd pid t0 t1
    rm -rf "$dir"; mkdir -p "$dir"
    cp "$WORK/data/static.zone" "$dir/big.test.zone"
    cat > "$dir/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$PORT
    port: $PORT
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
remote-control:
    control-enable: no
zone:
    name: big.test
    zonefile: "$dir/big.test.zone"
CONF
    t0=$(date +%s.%N)
    nsd -d -c "$dir/nsd.conf" & pid=$!
    PIDS+=("$pid")
    wait_for "$pid" answers "$LAST" || { echo "nsd: did not answer" >&2; return 1; }
    t1=$(date +%s.%N)
    measure nsd "$pid" "kill -HUP $pid" "$dir/big.test.zone" "$(echo "$t1 - $t0" | bc)" - - "$RELOADS" "$(cpu "$pid")"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_knot() {
    local dir=$WORK/knot pid t0 t1
    rm -rf "$dir"; mkdir -p "$dir/db"
    cp "$WORK/data/static.zone" "$dir/big.test.zone"
    cat > "$dir/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    rundir: "$dir"
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
control:
    listen: "$dir/knot.sock"
database:
    storage: "$dir/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$dir"
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
zone:
  - domain: big.test
    file: "$dir/big.test.zone"
CONF
    t0=$(date +%s.%N)
    knotd -c "$dir/knot.conf" 2> "$dir/knot.log" & pid=$!
    PIDS+=("$pid")
    wait_for "$pid" answers "$LAST" || { echo "knot: did not answer" >&2; cat "$dir/knot.log" >&2; return 1; }
    t1=$(date +%s.%N)
    measure knot "$pid" "knotc -c $dir/knot.conf -s $dir/knot.sock zone-reload big.test > /dev/null" "$dir/big.test.zone" "$(echo "$t1 - $t0" | bc)" - - "$RELOADS" "$(cpu "$pid")"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

# ratios: Switchyard's numbers over NSD's and Knot's, per case.
ratios() {
    echo
    echo "Ratios (switchyard / peer; load and RSS lower is better; NSD's RSS counts its forked processes):"
    echo
    echo "| case | binary | load / nsd | load / knot | load CPU / nsd | load CPU / knot | reload CPU / nsd | RSS / nsd | RSS / nsd PSS | RSS / knot | reload peak / nsd | reload peak / knot | check / nsd load |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk '{ key = $1 SUBSEP $2; load[key] = $3; rss[key] = $4; pss[key] = $5; peak[key] = $6; check[key] = $7; lcpu[key] = $8; rcpu[key] = $9
           if (!($1 in seen)) { seen[$1] = 1; cases[++n] = $1 }
           if ($2 ~ /^switchyard/ && !(($1, $2) in sy)) { sy[$1, $2] = 1; bins[$1] = bins[$1] " " $2 } }
         function r(a, b) { return (b > 0 && a != "" && a != "-") ? sprintf("%.2f", a / b) : "-" }
         END { for (i = 1; i <= n; i++) { c = cases[i]; m = split(bins[c], b, " ")
             for (j = 1; j <= m; j++) { s = c SUBSEP b[j]; nk = c SUBSEP "nsd"; kk = c SUBSEP "knot"
                 printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, b[j], r(load[s], load[nk]), r(load[s], load[kk]),
                     r(lcpu[s], lcpu[nk]), r(lcpu[s], lcpu[kk]), r(rcpu[s], rcpu[nk]),
                     r(rss[s], rss[nk]), r(rss[s], pss[nk]), r(rss[s], rss[kk]), r(peak[s], peak[nk]), r(peak[s], peak[kk]), r(check[s], load[nk]) } } }' "$WORK/numbers"
}

echo "## scale.sh ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $RELOADS reloads)"
echo
echo "| case | server | load s / CPU s | check s (CPU) / peak MiB | RSS MiB | PSS MiB | reload s / CPU s | reload peak RSS MiB | peak / RSS | RSS after 1 reload MiB | RSS after N reloads MiB (N) | scrape |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
: > "$WORK/numbers"
for CASE in $CASES; do
    write_data "$CASE" 1
    LAST=$(last_name "$CASE")
    run_switchyard "$SWITCHYARD_BIN" switchyard "$RELOADS" || true
    if [ -n "${SWITCHYARD_BEFORE:-}" ]; then
        write_data "$CASE" 1
        run_switchyard "$SWITCHYARD_BEFORE" switchyard-before "${BEFORE_RELOADS:-$RELOADS}" || true
    fi
    write_data "$CASE" 1
    if command -v nsd > /dev/null; then run_nsd || true; else echo "| $CASE | nsd | not installed | | | | | | | | | |"; fi
    write_data "$CASE" 1
    if command -v knotd > /dev/null; then run_knot || true; else echo "| $CASE | knot | not installed | | | | | | | | | |"; fi
    rm -rf "$WORK/data"
done
ratios
