"""/run_status: the JobManager's snapshot plus what a waiting student needs to
know: the phase, the whole run's progress, when a queued run should start, and
the time over every launch (backend/runs/phase.py, backend/runs/clock.py)."""
from __future__ import annotations

import time

from backend.runs.phase import phase_of, progress_fraction
from backend.models.readable_text import without_replacements
from backend.runs.clock import total_elapsed
from backend.runs.jobs import JobError
from backend.runs.start_estimate import UNKNOWN, Busy, Waiting, simulate_starts

# A run's start-up plus its two conversions, when nothing has been measured
# yet (the demo on a CPU: about 20-40 s to start, a few seconds to convert).
MIN_OVERHEAD_S = 30.0


def run_status(jobs, run_id: str) -> dict:
    """The snapshot with ``phase``, ``progress`` (0..1), ``estimated_start_s``
    (queued runs; None until a run training now gives the pace) and ``elapsed_s``
    over every launch (``launch_elapsed_s``: the current one)."""
    snap = jobs.snapshot(run_id)
    record = jobs.registry.get(run_id) or {}
    phase = phase_of(snap["state"], snap["log_tail"])
    return {**snap, "phase": phase, "log_tail": without_replacements(snap["log_tail"]),
            "progress": round(progress_fraction(snap["state"], phase, snap["iter"],
                                                snap["max_iters"], snap["step"]), 3),
            "estimated_start_s": estimated_start_s(jobs, snap),
            "launch_elapsed_s": snap["elapsed_s"],
            "elapsed_s": round(whole_run_seconds(jobs, run_id, record), 1)}


def whole_run_seconds(jobs, run_id: str, record: dict) -> float:
    return total_elapsed(jobs.run_dir(run_id), record.get("started_at"),
                         record.get("ended_at"))


def _pace(current: dict) -> float | None:
    """Seconds per iteration of a run training now (from its ETA)."""
    left = current["max_iters"] - current["iter"]
    if current["eta_s"] is None or left <= 0:
        return None
    return current["eta_s"] / left


def estimated_start_s(jobs, snap: dict) -> float | None:
    """Seconds until a queued run should start (None when not queued or not known)."""
    if not snap["queue_position"]:
        return None
    cluster = jobs.cluster_wait(snap["run_id"])
    if cluster is not None:  # the cluster's own expectation, when it has one
        return None if cluster.start_at is None else round(max(0.0, cluster.start_at
                                                                - time.time()), 1)
    return estimated_starts(jobs).get(snap["run_id"])


def estimated_starts(jobs) -> dict[str, float | None]:
    """Seconds until each queued run should start, by backend/runs/start_estimate.py's
    simulation: each active run ends after what it has left, then the queue
    takes the freed places in its order. Every run is paced like the runs
    training now (runs sharing a device train slower, and keep sharing while
    others wait), plus start-up and conversions (MIN_OVERHEAD_S)."""
    active = []
    for run_id in jobs.active_runs():
        try:
            active.append(jobs.snapshot(run_id))
        except JobError:  # a trainer from before a restart whose job.json is gone
            active.append(None)
    paces = [p for p in map(_pace, filter(None, active)) if p is not None]
    pace = sum(paces) / len(paces) if paces else None
    # Queued runs have no progress to read: their length and place are enough
    # (every queued student's page asks this each second).
    queued = sorted(((position, row) for row in jobs.list_runs() if row["state"] == "queued"
                     and (position := jobs.queue_position(row["run_id"]))), key=lambda q: q[0])
    waiting = [Waiting(row["run_id"], row["owner"], _takes(row["max_iters"], pace))
               for _position, row in queued]
    busy = [Busy(snap["owner"] if snap else "", _ends_in(snap, pace)) for snap in active]
    return simulate_starts(busy, waiting, jobs.pool.max_active_per_user)


def _takes(iterations: int, pace: float | None) -> float:
    return UNKNOWN if pace is None else iterations * pace + MIN_OVERHEAD_S


def _ends_in(snap: dict | None, pace: float | None) -> float:
    """Seconds until an active run frees its place."""
    if snap is None:
        return UNKNOWN
    if snap["state"] in ("converting", "stopping"):  # its training is over, or ending
        return MIN_OVERHEAD_S / 2
    if _pace(snap) is not None:
        return snap["eta_s"] + MIN_OVERHEAD_S / 2
    # Still starting (no iteration yet): paced like the others.
    return _takes(max(snap["max_iters"] - snap["iter"], 0), pace)
