#!/usr/bin/env bash
# The one install recipe: used by `make venv`, .ci/run and the Dockerfile.
#   scripts/install_deps.sh VENV_DIR [--dev] [--system-browser] [--system-slurm] [--system-torch]
# Creates VENV_DIR when missing (pass "-" to install into the current Python).
# --system-browser and --system-slurm add Debian packages for the tests (chromium,
# a one-node Slurm); where Slurm cannot be installed the venv is still made and the
# `slurm` tests skip.
#
# Which torch (docs/gpu.md, "Which torch"):
# - an NVIDIA driver (nvidia-smi, or STUDIO_NVIDIA_DRIVER=VERSION, e.g. in a docker
#   build): the torch build for the newest CUDA that driver runs, from that build's
#   own package index, with the bitsandbytes that has a library for it
#   (backend/training/torch_build.py chooses);
# - --system-torch (or STUDIO_SYSTEM_TORCH=1): keep the torch and torchvision of
#   $PYTHON's environment (a virtualenv with its site packages), as on InternStudio;
# - neither (CPU machines, CI): torch as pinned in requirements.txt and the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:?usage: install_deps.sh VENV_DIR|- [--dev] [--system-browser] [--system-slurm] [--system-torch]}"; shift
dev=0; browser=0; slurm=0; system_torch="${STUDIO_SYSTEM_TORCH:-0}"
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --system-browser) browser=1 ;;
    --system-slurm) slurm=1 ;;
    --system-torch) system_torch=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done

base_python="${PYTHON:-python3}"  # the Dockerfile sets python3.11
if [ "$system_torch" = 1 ] && ! "$base_python" -c "import torch, torchvision" 2>/dev/null; then
  echo "--system-torch: $base_python has no torch and torchvision to keep;" \
       "run with that environment's python (PYTHON=/path/to/python)" >&2
  exit 2
fi
if [ "$venv" = "-" ]; then
  python="$base_python"
else
  if [ ! -x "$venv/bin/python" ]; then
    if [ "$system_torch" = 1 ]; then
      "$base_python" -m venv --system-site-packages "$venv"
    else
      "$base_python" -m venv "$venv"
    fi
  elif [ "$system_torch" = 1 ] && ! grep -qi "system-site-packages *= *true" "$venv/pyvenv.cfg"; then
    echo "--system-torch: $venv was made without the system's site packages;" \
         "remove it (or name another folder) and run this again" >&2
    exit 2
  fi
  python="$venv/bin/python"
fi
pip=("$python" -m pip --disable-pip-version-check -q)
export PIP_PROGRESS_BAR=off
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

driver="${STUDIO_NVIDIA_DRIVER:-}"
if [ -z "$driver" ] && [ "$system_torch" != 1 ] && command -v nvidia-smi >/dev/null 2>&1; then
  driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null \
            | head -n 1 | tr -d '[:space:]')" || driver=""
  [ -n "$driver" ] || echo "nvidia-smi reports no driver: installing the default torch" >&2
fi

"${pip[@]}" install --upgrade pip
bitsandbytes=""  # empty: requirements-overrides.txt's pin
if [ "$system_torch" = 1 ]; then
  # 1. Everything but torch; the environment's torch pair pinned so pip keeps it. No
  #    lock: it was measured on Python 3.11 with torch 2.14, this environment differs.
  # The installed distributions' versions: torch.__version__ can carry a "+cu117"
  # that the package's own metadata (what pip compares) does not.
  read -r torch_version vision_version torch_cuda < <("$python" -c "import torch
from importlib.metadata import version
print(version('torch'), version('torchvision'), torch.version.cuda or '')")
  echo "keeping this environment's torch $torch_version (CUDA ${torch_cuda:-none})" >&2
  grep -v -E '^(torch|torchvision)==' requirements.txt > "$tmp/requirements.txt"
  printf 'torch==%s\ntorchvision==%s\n' "$torch_version" "$vision_version" > "$tmp/constraints.txt"
  "$python" backend/training/torch_build.py --kept-torch-constraints "$torch_version" >> "$tmp/constraints.txt"
  "${pip[@]}" install -r "$tmp/requirements.txt" -c "$tmp/constraints.txt"
  bitsandbytes="$("$python" backend/training/torch_build.py --kept-torch-bitsandbytes "$torch_version" \
                 "$torch_cuda")"
elif [ -n "$driver" ]; then
  # 1. The driver's torch build from its own index, then everything else with the
  #    lock less its torch/CUDA lines (they are the CPU machines' CUDA 13.0 set).
  build="$("$base_python" backend/training/torch_build.py --driver "$driver")"
  read -r torch_pin vision_pin index bitsandbytes <<<"$build"
  "${pip[@]}" install "$torch_pin" "$vision_pin" --index-url "$index"
  grep -v -E '^(torch|torchvision|triton|nvidia-|cuda-)' requirements.lock > "$tmp/constraints.txt"
  printf '%s\n%s\n' "$torch_pin" "$vision_pin" >> "$tmp/constraints.txt"
  "${pip[@]}" install -r requirements.txt -c "$tmp/constraints.txt"
else
  # 1. Everything pinned, with the measured lock as constraints.
  "${pip[@]}" install -r requirements.txt -c requirements.lock
fi
# 2. bitsandbytes over xtuner's own pin (why: requirements-overrides.txt).
if [ -n "$bitsandbytes" ]; then
  "${pip[@]}" install --no-deps "bitsandbytes==$bitsandbytes"
else
  "${pip[@]}" install --no-deps -r requirements-overrides.txt
fi
if [ "$dev" = 1 ]; then
  "${pip[@]}" install -r requirements-dev.txt
fi
if [ "$browser" = 1 ]; then
  # Debian's chromium for the real-browser test (browser downloads fail here), and a
  # CJK font: without one the Chinese UI renders (and is screenshotted) as empty boxes.
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-zenhei)
  fc-list 2>/dev/null | grep -qi emoji || missing+=(fonts-noto-color-emoji)  # ✅ ⏳ in status
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
if [ "$slurm" = 1 ]; then
  # slurmctld, slurmd and munge for the `slurm` tests; the package list is the
  # cluster script's own.
  scripts/slurm_local.sh install \
    || echo "Slurm not installed: the slurm tests will skip (scripts/slurm_local.sh install)" >&2
fi
"$python" -c "import xtuner, gradio, bitsandbytes, peft; print('dependencies ok')" 2>/dev/null \
  || { echo "installed, but xtuner, gradio, bitsandbytes or peft does not import" >&2; exit 1; }
