#!/bin/bash
# One device call: install the carried wheels, then one bench phase.
#   bash bench/device_run.sh cli|app [extra run_bench args]
# Needs .whl/ carried (see bench/README.md); writes into $OUT.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
cp -r .whl/extra/bitsandbytes* /tmp/site/          # trimmed to the CUDA 13 library
export PYTHONPATH=/tmp/site
# The `xtuner` wrapper runs "python ..."; this image only has python3.
mkdir -p /tmp/bin && printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" >/tmp/bin/python
chmod +x /tmp/bin/python && export PATH=/tmp/bin:/tmp/site/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv | tee $OUT/gpu.txt
phase=$1; shift
PYTHONUNBUFFERED=1 python3 bench/run_bench.py --phase "$phase" --out "$OUT" "$@" 2>&1 \
    | tail -c 4000000 > "$OUT/stdout_$phase.txt"
tail -c 5000 "$OUT/stdout_$phase.txt"
