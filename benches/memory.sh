#!/usr/bin/env bash
# memory.sh - resident memory of Switchyard with a large zone and with many
# managed names, next to NSD and Knot: kept for its old arguments, it runs
# benches/scale.sh (one script measures load, check, RSS and reloads, so the
# two cannot disagree again; this one used to print VmHWM and VmRSS swapped).
#
# Usage: benches/memory.sh [RECORDS=1000000] [SERVICES=100000]
#   = benches/scale.sh "z<RECORDS> s<SERVICES>" (plain numbers; RELOADS and
#   the other variables of scale.sh apply).
set -euo pipefail
RECORDS=${1:-1000000}
SERVICES=${2:-100000}
exec "$(dirname "$0")/scale.sh" "z$RECORDS s$SERVICES"
