#!/usr/bin/env bash
# The CPU tests on the oldest stack we support: Python 3.10 with torch 2.0.1 and
# torchvision 0.15.2 (PyPI's build, for CUDA 11.7), the environment InternStudio's
# lesson clones. It installs that pair into its own environment, then the studio's
# packages around it exactly as `scripts/install_deps.sh --system-torch` does there.
#
#   scripts/test_oldest_stack.sh [PYTEST_ARGS...]     (default: tests -m "not slow")
#   PYTHON310=/path/to/python3.10   which Python 3.10 (default: python3.10, else pyenv's)
#   OLDEST_DIR=work/oldest-stack    where the environment lives (reused on the next run)
#
# Not a CI job: CI's machines have no Python 3.10 preinstalled and reach only the package
# registries, so each run would download about 2.5 GB (torch 2.0.1 and its CUDA 11.7
# libraries) and install a second stack inside CI's 90 minutes. Run it by hand after
# changing requirements.txt or code that touches torch's API.
set -euo pipefail
cd "$(dirname "$0")/.."
python310="${PYTHON310:-$(command -v python3.10 || true)}"
if [ -z "$python310" ] && command -v pyenv >/dev/null 2>&1; then
  python310="$(pyenv root)/versions/$(pyenv versions --bare | grep -E '^3\.10' | tail -n 1)/bin/python"
fi
[ -x "$python310" ] || { echo "no Python 3.10: set PYTHON310" >&2; exit 2; }
dir="${OLDEST_DIR:-work/oldest-stack}"
env="$dir/env"
[ -x "$env/bin/python" ] || "$python310" -m venv "$env"
# The lesson environment's pair, and the NumPy 1.x it was built against.
"$env/bin/python" -m pip install -q --disable-pip-version-check torch==2.0.1 torchvision==0.15.2 \
  "numpy<2"
PYTHON="$env/bin/python" scripts/install_deps.sh - --dev --system-torch
"$env/bin/python" -c "import sys, torch; print('Python', sys.version.split()[0], 'torch', torch.__version__)"
if [ "$#" -eq 0 ]; then
  set -- tests -m "not slow"
fi
exec "$env/bin/python" -m pytest -q "$@"
