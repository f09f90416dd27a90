"""Why an answer is likely noise, in one line a student can read.

A first-time student cannot tell "the model learned nothing" from "the demo's
tiny models cannot answer this": these notes say which one applies. The page
turns each key into a sentence in its language.
"""
from __future__ import annotations

import json
from pathlib import Path

# The lesson repeats its Q&A 200 times; docs/demo-profile.md measured garbled
# finetuned answers at 50 repeats.
LESSON_REPEATS = 200


def few_repeats(repeats: int) -> bool:
    """Fewer repeats than the lesson's: warn before training and under answers."""
    return repeats < LESSON_REPEATS


def repeats_of_run(jobs, datasets, run_id: str) -> int | None:
    """How many times a run's Q&A were repeated: from its dataset's small meta
    file, else (the dataset was deleted) from the run's own data copy."""
    record = jobs.registry.get(run_id) or {}
    try:
        return datasets.get(record.get("dataset_id", "")).repeats
    except (KeyError, OSError, ValueError):
        return run_repeats(jobs.run_dir(run_id))


def run_repeats(run_dir: Path) -> int | None:
    """How many times the run's Q&A were repeated (from its own data copy;
    reads the whole repeated file, so only when the dataset is gone)."""
    try:
        unique = json.loads((run_dir / "data" / "unique_data.json").read_text(encoding="utf-8"))
        repeated = json.loads((run_dir / "data" / "repeated_data.json").read_text(
            encoding="utf-8"))
        return len(repeated) // len(unique) if unique else None
    except (OSError, ValueError, TypeError):
        return None


def noise_reasons(trained_question: bool, repeats: int | None, demo_models: bool) -> list[str]:
    """Message keys (en + zh in ui/messages*.py) for why both answers may be noise."""
    reasons = []
    if demo_models and not trained_question:
        reasons.append("note_unseen_demo")
    if repeats is not None and few_repeats(repeats):
        reasons.append("note_few_repeats")
    return reasons
