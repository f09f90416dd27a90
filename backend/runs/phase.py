"""What a run is doing right now, in words a student understands.

Between Start and the first iteration, a run spends tens of seconds loading
models, building the dataset and answering the evaluation questions; a page
that only shows "iteration 0" looks stuck. The phase comes from the run's state
and the newest marker line in its log (mmengine's, xtuner's and our hooks').
"""
from __future__ import annotations

import re

PHASES = ("waiting", "loading models", "preparing data", "evaluating", "training", "saving",
          "converting")

# (pattern, phase), tried on each log line from the newest back; the first line
# that matches any of them decides. Order within the list only matters for a
# line matching two patterns.
_MARKERS = [
    (re.compile(r"Saving checkpoint at|Stop requested: saving|Saving model checkpoint"),
     "saving"),
    (re.compile(r"in EvaluateChatHook|Sample output:"), "evaluating"),
    (re.compile(r"Iter\(train\)|Checkpoints will be saved to|Stop requested: training ends"),
     "training"),
    (re.compile(r"LengthGroupedSampler construction is complete|Load pretrained weight"
                r"|Load checkpoint from|resumed epoch|DeepSpeed|rank \d+ of \d+ trains on"),
     "loading models"),
    # (DatasetInfoHook's "Num train samples" comes after the models load: not a marker.)
    (re.compile(r"xtuner_dataset_timeout|LengthGroupedSampler is used"
                r"|^(Map|Filter|Flattening)\b"), "preparing data"),
]

# Fraction of the whole run (start-up included) at the start of each phase;
# training fills the span from "training" to "converting" by iterations.
_START_UP_END = 0.1
_TRAINING_END = 0.9
_PROGRESS_AT = {"waiting": 0.0, "loading models": 0.02, "preparing data": 0.05,
                "evaluating": 0.08}


def phase_of(state: str, log_tail: str) -> str | None:
    """The phase of a queued or active run; None once it has ended."""
    if state == "queued":
        return "waiting"
    if state == "converting":
        return "converting"
    if state != "running":
        return None
    for line in reversed(log_tail.splitlines()):
        # Only the current step's lines count: an earlier launch may precede.
        if line.startswith("==> "):
            break
        line = line.strip()
        for pattern, phase in _MARKERS:
            if pattern.search(line):
                return phase
    return "loading models"  # the step has started: imports, config, models


def progress_fraction(state: str, phase: str | None, iteration: int, max_iters: int,
                      step: str = "") -> float:
    """How far the whole run is, 0..1, for a progress bar that also moves
    during start-up and conversion."""
    if state == "done":
        return 1.0
    if state == "converting" or phase == "converting":
        return 0.95 if step == "convert_finetuned" else _TRAINING_END
    trained = min(iteration / max_iters, 1.0) if max_iters else 0.0
    if iteration > 0 or phase in ("training", "saving"):
        return _START_UP_END + (_TRAINING_END - _START_UP_END) * trained
    return _PROGRESS_AT.get(phase or "", 0.0)
