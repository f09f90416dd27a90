#!/bin/bash
# Device call 2 of 2 (see bench/lesson_full_a.sh), started at once after the
# first so the machine is still warm and /tmp still holds its checkpoints:
# resume the lesson run on GPU 0 towards its 1,200th step, then the outcome
# check. GPU 1 stays idle (in call 1 its work slowed GPU 0's steps through the
# shared CPU). Session 4 ran exactly this (inline) and reached step 1,007.
set -u
source bench/device_setup.sh || exit 1
M=/tmp/studio-bench/models
cat /tmp/studio-bench/app-lesson/train/last_checkpoint \
    || { echo "no checkpoint: the machine was given back between the calls"; exit 3; }
BENCH_GPU=0 CUDA_VISIBLE_DEVICES=0 python3 bench/run_bench.py --phase lesson_full --resume \
    --models $M --out "$OUT/lesson_b" --budget-s "${LESSON_BUDGET_S:-588}" \
    > "$OUT/lesson_b.txt" 2>&1
python3 bench/summarize.py "$OUT"
tail -c 1200 "$OUT/lesson_b.txt"
