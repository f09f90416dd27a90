"""When each queued run should start, with several runs at once (backend/runs/slots.py).

A small simulation of the scheduler, simple on purpose:

* the places are the runs active now: while runs wait, the pool is full (its
  slots, or its GPUs' memory), so a run that ends frees a place for one more;
* queued runs take a freed place in the queue's own (fair) order; one whose
  owner already has ``per_user`` runs going is passed over until one of them
  ends, as ``DevicePool.place`` does;
* how long each run takes is the caller's figure (backend/runs/status.py: the
  pace of the runs training now); an unknown one is "never" for this
  simulation, and every start that has to wait for it is unknown too.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

UNKNOWN = math.inf


@dataclass(frozen=True)
class Busy:
    """A run holding a place now, and the seconds until it ends (UNKNOWN: not paced yet)."""

    owner: str
    ends_in_s: float


@dataclass(frozen=True)
class Waiting:
    """A queued run, in queue order, and the seconds it will hold its place."""

    run_id: str
    owner: str
    takes_s: float


def simulate_starts(busy: list[Busy], waiting: list[Waiting],
                    per_user: int) -> dict[str, float | None]:
    """Seconds from now until each waiting run starts (None: cannot be told).

    No run active: None for all (nothing holds a place, so nothing paces the
    queue; the scheduler starts what fits at once anyway)."""
    if not busy:
        return {w.run_id: None for w in waiting}
    places = len(busy)
    going = [(b.ends_in_s, b.owner) for b in busy]   # (ends at, owner)
    pending = list(waiting)
    starts: dict[str, float | None] = {}
    now = 0.0
    while pending:
        active = Counter(owner for _end, owner in going)
        for run in list(pending):
            if len(going) >= places:
                break
            if run.owner and active[run.owner] >= per_user:
                continue  # passed over: its owner's own run must end first
            starts[run.run_id] = now
            going.append((now + run.takes_s, run.owner))
            active[run.owner] += 1
            pending.remove(run)
        if not pending:
            break
        going.sort(key=lambda g: g[0])
        now = going.pop(0)[0]   # the next run to end frees its place
        if now == UNKNOWN:
            starts.update({run.run_id: None for run in pending})
            break
    return {run_id: (None if at in (None, UNKNOWN) else round(at, 1))
            for run_id, at in starts.items()}
