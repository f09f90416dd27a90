#!/bin/bash
# Device call 1 of 2 (nvidia-h200-x2, carry [".whl"]): the lesson recipe's
# whole 1,200 steps do not fit in one 10-minute call, so GPU 0 trains until
# LESSON_STOP_S before this call's budget ends, then stops as the app's Stop
# button does (SaveOnStopHook saves that very step); bench/device/lesson_full_b.sh,
# started within the machine's idle window (30 s), resumes it.
# GPU 1 meanwhile times short fast-recipe probes, one after the other
# (GPU1_PROBES, space-separated variant specs; "" leaves GPU 1 idle: its work
# shares the CPU and slowed GPU 0's steps from ~0.55 to ~0.65 s in session 4).
# Everything comes back as one archive (a call returns few files).
# Session 4 ran an earlier form (interval saves only): step 506, iter_450.pth.
set -u
source bench/device/device_setup.sh || exit 1
M=/tmp/studio-bench/models
python3 bench/run_bench.py --phase fast --out "$OUT/build" --models $M > "$OUT/build.txt" 2>&1 \
    || { tail -c 3000 "$OUT/build.txt"; exit 1; }
probes=${GPU1_PROBES-b1:lr2e-4:nockpt:cudagraphs b1:lr2e-4:nockpt:compile}
(
    export BENCH_GPU=1 CUDA_VISIBLE_DEVICES=1 TORCHINDUCTOR_COMPILE_THREADS=4
    for spec in $probes; do
        name=${spec//:/_}
        python3 bench/run_bench.py --phase fast --fast-variants "$spec" --train-only \
            --fast-repeats "${PROBE_REPEATS:-25}" --models $M --work "/tmp/probe-$name" \
            --out "$OUT/probe_$name" --budget-s "${PROBE_BUDGET_S:-260}"
        mkdir -p /tmp/probe-results  # for bench/device/lesson_full_b.sh to pick from
        cp "$OUT/probe_$name/results_fast.json" "/tmp/probe-results/$name.json"
    done
) > "$OUT/gpu1.txt" 2>&1 &
BENCH_GPU=0 CUDA_VISIBLE_DEVICES=0 python3 bench/run_bench.py --phase lesson_full \
    --models $M --out "$OUT/lesson_a" --budget-s "${LESSON_BUDGET_S:-540}" \
    --save-steps 300 --stop-before-end-s "${LESSON_STOP_S:-45}" \
    > "$OUT/lesson_a.txt" 2>&1
wait
ls -la /tmp/studio-bench/app-lesson_noeval/train/ | tail -5
cat /tmp/studio-bench/app-lesson_noeval/train/last_checkpoint; echo
python3 bench/report/summarize.py "$OUT"
grep -h "Iter(train)" "$OUT"/probe_*/app_*.log 2>/dev/null | tail -4
tail -c 1500 "$OUT/gpu1.txt"
bash bench/device/pack_out.sh
