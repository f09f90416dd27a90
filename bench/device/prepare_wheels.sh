#!/bin/bash
# Here (not on the device): the cp312 wheels a device call carries as .whl/.
# The device image has python 3.12 + torch 2.11 (CUDA 13) and nothing of ours;
# a call may carry 64 MiB, so bitsandbytes is unpacked and trimmed to its
# CUDA 13 library. Usage: bash bench/device/prepare_wheels.sh [PYTHON_WITH_TORCH]
# (the python builds deepspeed's wheel; default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/../.."
build_python=${1:-.venv/bin/python}
dest=.whl
rm -rf "$dest" && mkdir -p "$dest/extra" "$dest/ds"

# Only wheels for the device's interpreter; no dependency resolution, since the
# device already has torch, numpy, pillow, pyyaml, requests and the like.
cp312() {
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --abi cp312 --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_24_x86_64 \
        --platform manylinux_2_28_x86_64 \
        -d "$1" "${@:2}"
}
cp312 "$dest" xtuner==0.2.0 mmengine==0.10.6 transformers==4.48.0 tokenizers==0.21.4 \
    huggingface-hub==0.36.2 peft==0.14.0 datasets==3.2.0 dill==0.3.8 multiprocess==0.70.16 \
    fsspec==2024.9.0 addict yapf termcolor loguru nltk platformdirs
# rouge-score only ships an sdist: build it here (pure python).
python3 -m pip wheel -q --no-deps -w "$dest" rouge-score==0.1.2

# bitsandbytes 0.48.2 is the first with a CUDA 13 library (0.45.x has none).
tmp=$(mktemp -d)
cp312 "$tmp" bitsandbytes==0.48.2
python3 -m zipfile -e "$tmp"/bitsandbytes-*.whl "$dest/extra"
find "$dest/extra/bitsandbytes" -name 'libbitsandbytes_*.so' \
    ! -name '*cuda130*' ! -name '*cpu*' -delete
rm -rf "$tmp"

# DeepSpeed 0.16.9 (0.19.8 does not load under mmengine 0.10.6), no compiled
# ops, plus the pydantic stack it imports.
DS_BUILD_OPS=0 "$build_python" -m pip wheel -q --no-deps --no-build-isolation \
    -w "$dest/ds" deepspeed==0.16.9
cp312 "$dest/ds" pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection \
    typing-extensions==4.16.0 hjson

du -sh "$dest" "$dest"/extra "$dest"/ds
total=$(du -sb "$dest" | cut -f1)
[ "$total" -lt $((64 * 1024 * 1024)) ] || { echo "over the 64 MiB a device call carries"; exit 1; }
