#!/bin/bash
# Device call 2 of 2 (see bench/lesson_full_a.sh): resume the lesson run on
# GPU 0 to its 1,200th step and check its outcome; GPU 1 runs one fast
# variant alone (its timing counts: nothing else shares that GPU).
set -u
source bench/device_setup.sh || exit 1
M=/tmp/studio-bench/models
[ -f /tmp/studio-bench/app-lesson/train/last_checkpoint ] \
    || { echo "no checkpoint: the machine was given back between the calls"; exit 3; }
BENCH_GPU=1 CUDA_VISIBLE_DEVICES=1 python3 bench/run_bench.py --phase fast \
    --fast-variants "${GPU1_VARIANT:-b1:lr3e-4:nockpt}" --models $M --work /tmp/gpu1b \
    --out "$OUT/gpu1_variant" --budget-s 540 > "$OUT/gpu1.txt" 2>&1 &
BENCH_GPU=0 CUDA_VISIBLE_DEVICES=0 python3 bench/run_bench.py --phase lesson_full --resume \
    --models $M --out "$OUT/lesson_b" --budget-s 560 > "$OUT/lesson_b.txt" 2>&1
wait
python3 bench/summarize.py "$OUT"
tail -c 1500 "$OUT/lesson_b.txt"
tar czf /tmp/out.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/out.tgz "$OUT/all.tgz"
