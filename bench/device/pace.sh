#!/bin/bash
# One device call that times fast-recipe variants ONE AT A TIME, each alone on
# the GPU (so their s/iter, start-up and peaks compare), then Compare at real
# size with the last variant's checkpoint (bench/suite/flows.py compare_timing).
#   bash bench/device/pace.sh b1 b1:bf16w b1:bf16w:noscale:fuse
# A spec may end in options, each after a +: tN runs the app's trainer with N
# OMP threads (BENCH_APP_THREADS; default: the app's own default), chat keeps
# the Compare models loaded on the GPU during the run's steps (--warm-chat):
#   bash bench/device/pace.sh b1 b1+t8
#   bash bench/device/pace.sh b1 b1+chat b1+chat b1     # both orders in one call
# Each run's results go to $OUT/<position>_<spec>.
# PACE_REPEATS: 6 x N steps a variant (default 25: 150 steps); PACE_COMPARE=0
# skips the Compare timing; PACE_ARGS: more run_bench.py arguments for every
# variant (e.g. "--warm-trainer").
set -u
source bench/device/device_setup.sh
models=/tmp/studio-bench/models
python3 bench/run_bench.py --phase fast --out "$OUT/build" --models "$models" \
    > "$OUT/build.txt" 2>&1 || { tail -c 3000 "$OUT/build.txt"; exit 1; }
last=""
position=0
for arg in "$@"; do
    position=$((position + 1))
    spec=${arg%%+*}
    threads=""
    extra=""
    for option in $(echo "${arg#"$spec"}" | tr '+' ' '); do
        case $option in
            t*) threads=${option#t} ;;
            chat) extra=--warm-chat ;;
            *) echo "unknown option +$option in $arg"; exit 2 ;;
        esac
    done
    name=${position}_${arg//:/_}
    name=${name//+/_}
    BENCH_APP_THREADS=$threads PYTHONUNBUFFERED=1 python3 bench/run_bench.py --phase fast \
        --fast-variants "$spec" \
        --models "$models" --fast-repeats "${PACE_REPEATS:-25}" --train-only $extra \
        --work "/tmp/pace-$name" --out "$OUT/$name" --budget-s 200 ${PACE_ARGS:-} \
        > "$OUT/stdout_$name.txt" 2>&1
    last=$name
done
if [ "${PACE_COMPARE:-1}" = 1 ] && [ -n "$last" ]; then
    ckpt=$(ls -t /tmp/pace-"$last"/app-*/train/iter_*.pth 2>/dev/null | head -1)
    PYTHONUNBUFFERED=1 python3 bench/run_bench.py --phase compare --models "$models" \
        --checkpoint "$ckpt" --work /tmp/pace-compare --out "$OUT/compare" --budget-s 300 \
        > "$OUT/stdout_compare.txt" 2>&1
fi
python3 bench/report/summarize.py "$OUT"
bash bench/device/pack_out.sh
