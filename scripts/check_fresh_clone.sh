#!/usr/bin/env bash
# Shows the README's promise on a fresh clone: `make run` brings the app up on
# the demo profile (models built, page served), and `make test` passes.
#   scripts/check_fresh_clone.sh [--skip-tests]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(mktemp -d)"
port="${PORT:-7877}"
git clone -q "$src" "$dir"
cd "$dir"
echo "fresh clone in $dir"

# Its own process group, so the app and its children stop with it at the end.
GRADIO_SERVER_PORT="$port" setsid make run > run.log 2>&1 &
runner=$!
trap 'kill -- -"$runner" 2>/dev/null || true' EXIT
# make run installs .venv first (minutes), then the app builds the demo models.
for _ in $(seq 1 240); do
  if [ -x .venv/bin/python ] && .venv/bin/python - "$port" <<'PY' 2>/dev/null; then break; fi
import sys
from gradio_client import Client
status = Client(f"http://127.0.0.1:{sys.argv[1]}/", verbose=False).predict(api_name="/models_status")
assert status["profile"] == "demo" and status["ready"], status
print("make run: app up on the demo profile, models ready")
PY
  sleep 5
done
.venv/bin/python - "$port" <<'PY'
import sys
from gradio_client import Client
status = Client(f"http://127.0.0.1:{sys.argv[1]}/", verbose=False).predict(api_name="/models_status")
assert status["profile"] == "demo" and status["ready"], status
PY
if [ "${1:-}" != "--skip-tests" ]; then
  make test
fi
echo "fresh clone OK"
