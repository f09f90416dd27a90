#!/bin/bash
# One device call: the carried wheels plus DeepSpeed's (.whl/ds/), then bench/probes/launch_probe.py.
set -u
source bench/device/device_setup.sh
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/ds/*.whl || exit 1
python3 -c "import deepspeed; print('deepspeed', deepspeed.__version__)" 2>&1 | tail -2
PYTHONUNBUFFERED=1 python3 bench/probes/launch_probe.py --out "$OUT" "$@" > "$OUT/stdout_launch.txt" 2>&1
tail -c 3000 "$OUT/stdout_launch.txt"
python3 -c "
import json; r = json.load(open('$OUT/results_launch.json'))
for k, v in r.items():
    if isinstance(v, dict):
        print(k, v.get('rc'), v.get('checkpoint'), v.get('stats', {}).get('iters'), v.get('skipped', ''))
        print('   ', *v.get('distributed_lines', [])[:6], sep='\n    ')
        if v.get('error_tail'): print(v['error_tail'][-1500:])
"
