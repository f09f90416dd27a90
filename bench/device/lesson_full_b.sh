#!/bin/bash
# Device call 2 of 2 (see bench/device/lesson_full_a.sh), started at once after the
# first so the machine is still warm and /tmp still holds its checkpoint:
# resume the lesson run on GPU 0 towards its 1,200th step, then the outcome
# check (if the budget runs out first, it stops with a checkpoint at that step
# and answers from it: run this again to go on). GPU 1 meanwhile runs
# GPU1_VARIANT (a fast-recipe variant, whole length, with its outcome check;
# "" leaves it idle; "auto", the default, the fastest of call 1's probes that
# trained, see bench/probes/pick_probe.py, else plain batch 1).
set -u
source bench/device/device_setup.sh || exit 1
M=/tmp/studio-bench/models
cat /tmp/studio-bench/app-lesson_noeval/train/last_checkpoint \
    || { echo "no checkpoint: the machine was given back between the calls"; exit 3; }
variant=${GPU1_VARIANT-auto}
[ "$variant" = auto ] && variant=$(python3 bench/probes/pick_probe.py /tmp/probe-results b1:lr2e-4:nockpt)
echo "GPU 1: ${variant:-idle}"
if [ -n "$variant" ]; then
    BENCH_GPU=1 CUDA_VISIBLE_DEVICES=1 TORCHINDUCTOR_COMPILE_THREADS=4 \
        python3 bench/run_bench.py --phase fast --fast-variants "$variant" --models $M \
        --work /tmp/gpu1 --out "$OUT/gpu1_variant" --budget-s "${GPU1_BUDGET_S:-560}" \
        > "$OUT/gpu1.txt" 2>&1 &
fi
BENCH_GPU=0 CUDA_VISIBLE_DEVICES=0 python3 bench/run_bench.py --phase lesson_full --resume \
    --models $M --out "$OUT/lesson_b" --budget-s "${LESSON_BUDGET_S:-575}" \
    --save-steps 300 --stop-before-end-s "${LESSON_STOP_S:-150}" \
    > "$OUT/lesson_b.txt" 2>&1
wait
python3 bench/report/summarize.py "$OUT"
tail -c 1200 "$OUT/lesson_b.txt"
tail -c 800 "$OUT/gpu1.txt" 2>/dev/null
bash bench/device/pack_out.sh
