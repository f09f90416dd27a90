#!/bin/bash
# One device call: install the carried wheels, then one bench phase.
#   bash bench/device/device_run.sh cli|app|fast [extra run_bench args]
# Needs .whl/ carried (see bench/README.md); writes into $OUT.
set -u
source bench/device/device_setup.sh
phase=$1; shift
PYTHONUNBUFFERED=1 python3 bench/run_bench.py --phase "$phase" --out "$OUT" "$@" 2>&1 \
    | tail -c 4000000 > "$OUT/stdout_$phase.txt"
tail -c 5000 "$OUT/stdout_$phase.txt"
bash bench/device/pack_out.sh
