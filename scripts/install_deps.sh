#!/usr/bin/env bash
# The one install recipe: used by `make venv`, .ci/run and the Dockerfile.
#   scripts/install_deps.sh VENV_DIR [--dev] [--system-browser]
# Creates VENV_DIR when missing (pass "-" to install into the current Python).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:?usage: install_deps.sh VENV_DIR|- [--dev] [--system-browser]}"; shift
dev=0; browser=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --system-browser) browser=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done

base_python="${PYTHON:-python3}"  # the Dockerfile sets python3.11
if [ "$venv" = "-" ]; then
  python="$base_python"
else
  if [ ! -x "$venv/bin/python" ]; then
    "$base_python" -m venv "$venv"
  fi
  python="$venv/bin/python"
fi
pip=("$python" -m pip --disable-pip-version-check -q)
export PIP_PROGRESS_BAR=off

"${pip[@]}" install --upgrade pip
# 1. Everything pinned, with the measured lock as constraints.
"${pip[@]}" install -r requirements.txt -c requirements.lock
# 2. bitsandbytes over xtuner's own pin (why: requirements-overrides.txt).
"${pip[@]}" install --no-deps -r requirements-overrides.txt
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
"$python" -c "import xtuner, gradio, bitsandbytes, peft; print('dependencies ok')" 2>/dev/null
