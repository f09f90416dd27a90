#!/bin/bash
# Device call 1 of 2 (nvidia-h200-x2, carry [".whl"]): the lesson recipe's
# whole 1,200 steps do not fit in one 10-minute call, so GPU 0 trains until
# this call's budget, saving every 150 steps; bench/lesson_full_b.sh, started
# within the machine's idle window (30 s), resumes it. GPU 1 meanwhile
# profiles where a fast-recipe step's time goes (batch 1 and 16), then tries
# one more variant (GPU1_WORK=0 leaves GPU 1 idle: its work shares the CPU and
# slowed GPU 0's steps from ~0.55 to ~0.65 s). Everything comes back as one
# archive (a call returns few files).
# Session 4 ran it with LESSON_BUDGET_S=505: step 506, checkpoint iter_450.pth.
set -u
source bench/device_setup.sh || exit 1
M=/tmp/studio-bench/models
python3 bench/run_bench.py --phase fast --out "$OUT/build" --models $M > "$OUT/build.txt" 2>&1 \
    || { tail -c 3000 "$OUT/build.txt"; exit 1; }
[ "${GPU1_WORK:-1}" = 1 ] && {
    export BENCH_GPU=1 CUDA_VISIBLE_DEVICES=1
    python3 bench/run_bench.py --phase fast --fast-variants b1:lr2e-4:wu0.1:nockpt \
        --fast-repeats 7 --profile 15:10 --models $M --work /tmp/prof1 --out "$OUT/prof_b1" \
        --budget-s 200
    python3 bench/run_bench.py --phase fast --fast-variants b16:lr2e-4:wu0.2 \
        --fast-repeats 40 --profile 5:5 --models $M --work /tmp/prof16 --out "$OUT/prof_b16" \
        --budget-s 200
    python3 bench/run_bench.py --phase fast --fast-variants "${GPU1_VARIANT:-b2:lr2e-4:nockpt:lp4}" \
        --models $M --work /tmp/gpu1 --out "$OUT/gpu1_variant" --budget-s 300
} > "$OUT/gpu1.txt" 2>&1 &
BENCH_GPU=0 CUDA_VISIBLE_DEVICES=0 python3 bench/run_bench.py --phase lesson_full \
    --models $M --out "$OUT/lesson_a" --budget-s "${LESSON_BUDGET_S:-515}" \
    > "$OUT/lesson_a.txt" 2>&1
wait
ls -la /tmp/studio-bench/app-lesson/train/ | tail -5
python3 bench/summarize.py "$OUT"
tail -c 1500 "$OUT/gpu1.txt"
bash bench/pack_out.sh
