"""What the page sees of a run: JobManager's snapshot and its row in the runs table."""
from __future__ import annotations

import time

from backend.runs import progress
from backend.runs.spec import JobSpec


def run_snapshot(record: dict, spec: JobSpec, queue_position: int | None,
                 stopping: bool) -> dict:
    """A run's registry row plus its progress read from mmengine's files and its log."""
    run_id = record["run_id"]
    scalars = progress.read_scalars(spec.train_dir)
    losses = progress.losses_of(scalars)
    log_tail = progress.tail(spec.log_file, 40)
    iteration = losses[-1][0] if losses else 0
    max_iters = record["max_iters"]
    if not losses and (found := progress.last_iteration(log_tail)):
        iteration, max_iters = found[0], found[1] or max_iters
    started, ended = record["started_at"], record["ended_at"]
    elapsed = ((ended or time.time()) - started) if started else 0.0
    eta = None
    if record["state"] == "running" and iteration and max_iters:
        # Start-up (imports, model loading, the first evaluation pass) is
        # in elapsed but will not recur: pace the rest by iteration times.
        pace = progress.seconds_per_iteration(scalars) or elapsed / iteration
        eta = pace * max(max_iters - iteration, 0)
    return {
        "run_id": run_id,
        "dataset_id": record["dataset_id"],
        "state": "stopping" if stopping else record["state"],
        "iter": iteration,
        "max_iters": max_iters,
        "loss": losses[-1][1] if losses else None,
        "losses": [[i, l] for i, l in losses],
        "elapsed_s": round(elapsed, 1),
        "eta_s": None if eta is None else round(eta, 1),
        "queue_position": queue_position,
        "stopping": stopping,
        "log_tail": log_tail,
        "error": record["error"],
        "created_at": record["created_at"],
        "options": record["options"],
        "final_loss": record["final_loss"],
        "owner": record["owner"],
        "step": record["step"],  # the step running now, or the one that failed
        "device": record["device"],  # "cpu", "cuda:0", "cuda:0,cuda:1"; "" while queued
    }


def run_row(record: dict, stopping: bool) -> dict:
    """A run's line in the runs table."""
    duration = None
    if record["started_at"]:
        duration = round((record["ended_at"] or time.time()) - record["started_at"], 1)
    return {"run_id": record["run_id"],
            "state": "stopping" if stopping else record["state"],
            "dataset_id": record["dataset_id"], "owner": record["owner"],
            "created_at": record["created_at"], "duration_s": duration,
            "final_loss": record["final_loss"], "max_iters": record["max_iters"],
            "error": record["error"], "step": record["step"], "device": record["device"]}
