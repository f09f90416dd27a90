#!/usr/bin/env bash
# The whole suite N times in a row on a clean clone, with a CPU hog beside it
# (one busy process per core): shows that no test depends on how busy the
# machine is. Prints the time and outcome of each run; logs in the clone.
#   scripts/ci_under_load.sh [RUNS=3] [CLONE_DIR=/tmp/ci-under-load]
set -uo pipefail
runs="${1:-3}"
clone="${2:-/tmp/ci-under-load}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
command -v stress-ng >/dev/null || { apt-get update -qq && apt-get install -y -qq stress-ng >/dev/null; }
rm -rf "$clone"
git clone -q "$repo" "$clone"
cd "$clone"
stress-ng --cpu "$(nproc)" --quiet &
hog=$!
trap 'kill $hog 2>/dev/null' EXIT
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, stress-ng --cpu $(nproc) beside"
failed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  CI=true bash .ci/run > "run-$i.log" 2>&1
  code=$?
  echo "run $i: exit $code in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s: $(grep -E '[0-9]+ (passed|failed)' "run-$i.log" | tail -1)"
  [ "$code" = 0 ] || failed=1
done
exit $failed
