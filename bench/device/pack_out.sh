#!/bin/bash
# Last step of a device call: a call brings back at most 8 files from $OUT,
# so everything there goes into one archive, $OUT/all.tgz (tar xzf it here).
set -u
tar czf /tmp/out.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/out.tgz "$OUT/all.tgz"
