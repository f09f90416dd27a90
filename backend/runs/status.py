"""/run_status: the JobManager's snapshot plus what a waiting student needs to
know: the phase, the whole run's progress, when a queued run should start, and
the time over every launch (backend/runs/phase.py, backend/runs/clock.py)."""
from __future__ import annotations

from backend.runs.phase import phase_of, progress_fraction
from backend.models.readable_text import without_replacements
from backend.runs.clock import total_elapsed

# A run's start-up plus its two conversions, when nothing has been measured
# yet (the demo on a CPU: about 20-40 s to start, a few seconds to convert).
MIN_OVERHEAD_S = 30.0


def run_status(jobs, run_id: str) -> dict:
    """The snapshot with ``phase``, ``progress`` (0..1), ``estimated_start_s``
    (queued runs; None when nothing ahead is training yet) and ``elapsed_s``
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
    """Seconds per iteration of the run training now (from its ETA)."""
    left = current["max_iters"] - current["iter"]
    if current["eta_s"] is None or left <= 0:
        return None
    return current["eta_s"] / left


def estimated_start_s(jobs, snap: dict) -> float | None:
    """Seconds until a queued run should start: what the active run has left
    plus every run ahead in the queue, each paced like the active one."""
    position = snap["queue_position"]
    active = jobs.active_run()
    if not position or active is None:
        return None
    current = jobs.snapshot(active)
    if current["state"] == "converting":
        left, pace = MIN_OVERHEAD_S / 2, None
    else:
        pace = _pace(current)
        if pace is None:
            return None  # still starting: no pace measured yet
        left = current["eta_s"] + MIN_OVERHEAD_S / 2
    # Queued runs have no progress to read: their length and place are enough
    # (every queued student's page asks this each second).
    ahead = [r["max_iters"] for r in jobs.list_runs() if r["state"] == "queued"
             and (jobs.queue_position(r["run_id"]) or position) < position]
    if ahead and pace is None:
        return None
    return round(left + sum(iters * pace + MIN_OVERHEAD_S for iters in ahead), 1)
