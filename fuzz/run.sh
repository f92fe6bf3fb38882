#!/usr/bin/env bash
# run.sh - runs every libFuzzer target for a set time each.
#
# Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   fuzz/run.sh                 # 60 s each, every target
#   fuzz/run.sh 20              # what CI runs
#   fuzz/run.sh 3600 query_path # an hour on the query path
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Each target starts from its committed seed corpus (fuzz/corpus/<target>);
# new inputs libFuzzer finds go to a scratch corpus under fuzz/target (not
# committed), so the repository's corpus only changes on purpose. Crashes
# are written to fuzz/artifacts/<target>/ and fail the run (exit 1).
# Prints the executions each target ran ("execs") at the end.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(query_path ecs config zone api_bodies)
fi

cd "$HERE"
# -s none: the crate forbids unsafe code, so AddressSanitizer would find
# nothing a panic does not, at several times the cost per execution;
# -a: debug assertions on, so integer overflow panics and is found.
cargo +nightly fuzz build -O -s none -a >&2
failed=0
summary=()
for target in "${TARGETS[@]}"; do
    scratch="$HERE/target/corpus/$target"
    mkdir -p "$scratch" "$HERE/artifacts/$target"
    log="$HERE/target/$target.log"
    echo "fuzz: $target for ${SECONDS_EACH}s" >&2
    # -rss_limit_mb: the query path keeps the example snapshot; 2 GB is
    # libFuzzer's default too, stated so a leak shows as a failure.
    if cargo +nightly fuzz run -O -s none -a "$target" "$scratch" "$HERE/corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$HERE/artifacts/$target/" -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        failed=1
        tail -40 "$log" >&2
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    summary+=("$target: $result, $execs execs in ${SECONDS_EACH}s")
done
printf '%s\n' "${summary[@]}"
exit $failed
