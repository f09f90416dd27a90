#!/bin/bash
# One device call that tries several fast-recipe variants AT ONCE on one GPU,
# for their outcome check only: they share the GPU, so their timings mean
# nothing (time a chosen variant alone with device_run.sh).
#   bash bench/device/explore.sh b4:lr2e-4 b2:lr2e-4 ...
# On a machine of several GPUs, EXPLORE_GPUS="0 1" deals the variants out
# over those GPUs in turn (default: all on GPU 0); EXPLORE_BUDGET_S caps each
# variant's seconds (default 500). Pace probes: EXPLORE_REPEATS=25 (150 steps)
# EXPLORE_TRAIN_ONLY=1 (no answers); variants side by side on the GPUs of one
# host share its CPU alike, so their s/iter compare with each other.
set -u
source bench/device/device_setup.sh
models=/tmp/studio-bench/models
# Build the models once (a fast phase with no variants), then share them.
python3 bench/run_bench.py --phase fast --out "$OUT/build" --models "$models" \
    > "$OUT/build.txt" 2>&1 || { tail -c 3000 "$OUT/build.txt"; exit 1; }
read -r -a gpus <<< "${EXPLORE_GPUS:-0}"
i=0
for spec in "$@"; do
    name=${spec//:/_}
    gpu=${gpus[$((i % ${#gpus[@]}))]}
    i=$((i + 1))
    BENCH_GPU=$gpu CUDA_VISIBLE_DEVICES=$gpu PYTHONUNBUFFERED=1 \
        python3 bench/run_bench.py --phase fast --fast-variants "$spec" --models "$models" \
        --fast-repeats "${EXPLORE_REPEATS:-200}" ${EXPLORE_TRAIN_ONLY:+--train-only} \
        --work "/tmp/explore-$name" --out "$OUT/$name" --budget-s "${EXPLORE_BUDGET_S:-500}" \
        > "$OUT/stdout_$name.txt" 2>&1 &
done
wait
python3 bench/report/summarize.py "$OUT"
bash bench/device/pack_out.sh
