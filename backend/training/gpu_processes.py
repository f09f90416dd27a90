"""What each process group holds on each GPU, from nvidia-smi's process list.

The scheduler counts a run that is still starting with its whole estimate;
what its processes have already allocated is in the measured free memory,
so it subtracts that share (backend/runs/slots.py). nvidia-smi names GPUs by
UUID in its process list and by index elsewhere; a process it lists that is
not ours to see (another PID namespace, already gone) is left out, which
only makes the count more cautious.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import Callable

MIB = 1024 ** 2


def group_usage() -> dict[tuple[int, int], int]:
    """(GPU index, process group) -> bytes its processes hold; {} without nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {}
    try:
        gpus = _gpu_uuids(smi)
        apps = _query(smi, "--query-compute-apps=gpu_uuid,pid,used_memory")
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse_group_usage(gpus, apps, _group_of)


@functools.lru_cache(maxsize=4)
def _gpu_uuids(smi: str) -> str:
    """nvidia-smi's "index, uuid" lines: a machine's GPUs do not change while the
    server runs, so the scheduler's tick asks once (a failure is not cached)."""
    return _query(smi, "--query-gpu=index,uuid")


def _query(smi: str, query: str) -> str:
    return subprocess.run([smi, query, "--format=csv,noheader,nounits"], capture_output=True,
                          text=True, timeout=20, check=True).stdout


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def parse_group_usage(gpus_text: str, apps_text: str,
                      group_of: Callable[[int], int | None]) -> dict[tuple[int, int], int]:
    index_of = {}
    for line in gpus_text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            index_of[parts[1]] = int(parts[0])
    usage: dict[tuple[int, int], int] = {}
    for line in apps_text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or parts[0] not in index_of or not parts[1].isdigit():
            continue
        try:
            used = int(float(parts[2])) * MIB
        except ValueError:  # "[N/A]" where the driver does not say
            continue
        group = group_of(int(parts[1]))
        if group is not None:
            key = (index_of[parts[0]], group)
            usage[key] = usage.get(key, 0) + used
    return usage
