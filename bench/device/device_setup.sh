# Sourced by bench/device/device_run.sh, bench/device/explore.sh and bench/device/multi_gpu_app.sh
# on the device machine: installs the carried wheels (.whl/, see
# bench/README.md) into /tmp/site once per machine, so scripts started side
# by side in one call do not reinstall under each other's feet.
if [ ! -f /tmp/site/.studio-wheels ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    cp -r .whl/extra/bitsandbytes* /tmp/site/          # trimmed to the CUDA 13 library
    touch /tmp/site/.studio-wheels
fi
export PYTHONPATH=/tmp/site
# The `xtuner` wrapper runs "python ..."; this image only has python3.
mkdir -p /tmp/bin && printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" >/tmp/bin/python
chmod +x /tmp/bin/python && export PATH=/tmp/bin:/tmp/site/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv | tee $OUT/gpu.txt
