#!/bin/bash
# One device call: the carried wheels plus DeepSpeed's (.whl/ds/), then the
# multi-GPU run through the app's backend (bench/suite/multi_gpu_app.py).
#   bash bench/device/multi_gpu_app.sh --gpus 0,1 --deepspeed deepspeed_zero2
set -u
source bench/device/device_setup.sh
if [ ! -f /tmp/site/.studio-ds ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/ds/*.whl || exit 1
    touch /tmp/site/.studio-ds
fi
PYTHONUNBUFFERED=1 python3 bench/suite/multi_gpu_app.py --out "$OUT" "$@" > "$OUT/stdout_multi_gpu.txt" 2>&1
status=$?
tail -c 4000 "$OUT/stdout_multi_gpu.txt"
cp /tmp/studio-multi-gpu/studio/runs/*/run.log "$OUT/" 2>/dev/null
exit $status
