#!/bin/bash
# One device call: the carried wheels, then a class of lesson-recipe runs through
# the slot scheduler (bench/suite/class_pack.py): one run alone, then N students
# at once. Arguments go to class_pack.py (default: 8 students, every GPU).
#   bash bench/device/class_pack.sh --gpus 0                 # a class of 8 on one H200
#   bash bench/device/class_pack.sh                          # the same class over every GPU
#   bash bench/device/class_pack.sh --students 16 --alone-s S --budget-s 560
# Prints the summary; everything else comes back in $OUT/all.tgz.
set -u
source bench/device/device_setup.sh
rm -rf /tmp/studio-class/studio   # a still-warm machine's earlier class (its models stay)
df -h /tmp | tee "$OUT/disk.txt"
PYTHONUNBUFFERED=1 python3 bench/suite/class_pack.py --out "$OUT" "$@" \
    > "$OUT/stdout_class_pack.txt" 2>&1
status=$?
tail -c 2500 "$OUT/stdout_class_pack.txt"
bash bench/device/pack_out.sh
exit $status
