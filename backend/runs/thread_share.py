"""How many OpenMP threads a run's processes get, when the server decides.

A GPU run's trainer still does CPU work: the model build before its first
step, and the host side of every step. On one H200 (bench/RESULTS.md, issue
18, call 1) 8 threads against 1 cut the first step from 14.3 to 8.8 s and
the step from 0.167 to 0.137 s. But up to 8 runs share a GPU, and every run
on the machine shares its cores: oversubscribed OpenMP threads spin against
each other. So each run takes its threads at its start from the cores the
runs already running do not hold, at most ``cap`` and at least one a
process (a run over several GPUs has a process on each), and keeps them
until it ends.

The CPU (the demo profile) keeps one thread a run unless ``--train-threads``
says otherwise: there the runs are the whole load of 2 cores.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

# More than this bought nothing measurable per step (bench/RESULTS.md).
CAP = 8


def machine_cores() -> int:
    """The cores this server may use (its affinity: a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadShare:
    cores: int
    cap: int = CAP

    def for_next_run(self, held: Iterable[int], processes: int = 1) -> int:
        """Threads for each of a starting run's ``processes`` while running
        runs hold ``held`` cores."""
        return max(1, min(self.cap, (self.cores - sum(held)) // processes))
