"""A run's time across all its launches.

The registry keeps when the current launch started; Resume starts a new one,
so "elapsed" alone would restart at 0:00. Each launch that ends appends its
start and end here (JobManager's after_job), and the run's elapsed time is
all of them plus the one running now.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

LAUNCHES_FILE = "launches.json"


def record_launch(run_dir: Path, started_at: float | None, ended_at: float | None) -> None:
    """Remember one finished launch (called once per launch, when it ends)."""
    if not started_at:
        return
    launches = read_launches(run_dir)
    if any(start == started_at for start, _ in launches):
        return
    launches.append((started_at, ended_at or time.time()))
    target = run_dir / LAUNCHES_FILE
    target.with_suffix(".tmp").write_text(json.dumps(launches), encoding="utf-8")
    target.with_suffix(".tmp").replace(target)


def read_launches(run_dir: Path) -> list[tuple[float, float]]:
    try:
        data = json.loads((run_dir / LAUNCHES_FILE).read_text(encoding="utf-8"))
        return [(float(start), float(end)) for start, end in data]
    except (OSError, ValueError, TypeError):
        return []


def total_elapsed(run_dir: Path, started_at: float | None, ended_at: float | None,
                  now: float | None = None) -> float:
    """Seconds over every launch: the finished ones on file plus the current
    (registry) launch, counted once whether or not it is on file yet."""
    now = time.time() if now is None else now
    earlier = sum(end - start for start, end in read_launches(run_dir)
                  if start != started_at)
    current = ((ended_at or now) - started_at) if started_at else 0.0
    return earlier + max(current, 0.0)
