"""A second Start of the same thing is the same run.

Students double-click Start, or press it again because nothing seemed to happen.
A run of the same dataset with the same options that is still waiting or
training is what they asked for: hand it back instead of queueing a copy.
"""
from __future__ import annotations

import json
from dataclasses import asdict

from backend.runs.registry import ACTIVE_STATES
from backend.xtuner.config import TrainOptions

UNFINISHED = ("queued", *ACTIVE_STATES)


def comparable(options: TrainOptions | dict) -> dict:
    """Options as the registry keeps them (JSON), so tuples and lists compare equal."""
    data = asdict(options) if isinstance(options, TrainOptions) else options
    return json.loads(json.dumps(data, sort_keys=True))


def find_same_run(jobs, dataset_id: str, options: TrainOptions, owner: str,
                  recipe=None) -> dict | None:
    """The snapshot of an unfinished run of ``dataset_id`` with these options
    and CUDA recipe (a backend.xtuner.recipes.Recipe, None on the CPU), started
    by ``owner``, or None. (Another owner's run is theirs to stop.)"""
    wanted = comparable(options)
    if recipe is not None:
        wanted["recipe"] = recipe.name
    for run in reversed(jobs.list_runs()):
        if (run["state"] in UNFINISHED and run["dataset_id"] == dataset_id
                and run["owner"] == owner):
            snap = jobs.snapshot(run["run_id"])
            if snap["state"] in UNFINISHED and comparable(snap["options"]) == wanted:
                return snap
    return None
