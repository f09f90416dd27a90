"""What moves the fast recipe's step time from run to run, read from the app's
training logs of issue 18's device calls.

mmengine's step line gives each step's ``time`` and its ``data_time``: the time
from the end of the previous step's timing to the start of this one, that is the
hooks after a step (IterTimerHook ends its timing before the logger, the scheduler
and the checkpoint hook run) and taking the next batch; host-only Python work,
about the same for every step of a run. Where ``data_time`` moves, the CPU ran the same code at another
speed; where the step time moves with it, the step waited on the CPU too (it is
bound by the host's kernel launches, RESULTS.md). Each log's steps are split into
the two groups of ``data_time`` (two-means on the one number), and each group's
median step time shown beside the correlation of the two times; across runs, the
run's median ``data_time`` beside its median step. One-off pauses
(a checkpoint's save lands in the next step's ``data_time``) are left out and
counted.

    python -m bench.report.step_noise bench/results/issue18*/**/app_fast*.log
"""
from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

STEP_LINE = re.compile(r"Iter\(train\)\s*\[\s*(\d+)/\d+\].*?\btime: ([\d.]+)\s+data_time: ([\d.]+)")


def steps(text: str) -> list[tuple[float, float]]:
    """(step time, data time) of each step after the first (the first carries start-up)."""
    return [(float(t), float(d)) for i, t, d in STEP_LINE.findall(text) if int(i) > 1]


def two_groups(values: list[float]) -> float:
    """The threshold that splits ``values`` into two groups (two-means, 1-D)."""
    low, high = min(values), max(values)
    cut = (low + high) / 2
    for _ in range(50):
        below = [v for v in values if v < cut] or [low]
        above = [v for v in values if v >= cut] or [high]
        new = (statistics.mean(below) + statistics.mean(above)) / 2
        if new == cut:
            break
        cut = new
    return cut


def correlation(xs: list[float], ys: list[float]) -> float:
    """Pearson's r; 0 where either side does not vary (statistics raises there)."""
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        return 0.0


# A step waiting this many times the run's median data_time waited on a one-off
# (a checkpoint save), not on the CPU's speed.
PAUSE_FACTOR = 3


def log_row(text: str) -> dict | None:
    """One log's figures, or None when it has too few steps to split."""
    every = steps(text)
    if len(every) < 20:
        return None
    usual = statistics.median(d for _, d in every)
    pairs = [(t, d) for t, d in every if d <= PAUSE_FACTOR * usual]
    if len(pairs) < 20:
        return None
    data = [d for _, d in pairs]
    cut = two_groups(data)
    fast = [(t, d) for t, d in pairs if d < cut]
    slow = [(t, d) for t, d in pairs if d >= cut]
    if not fast or not slow:
        return None
    return {"steps": len(pairs), "r": correlation(data, [t for t, _ in pairs]),
            "data": statistics.median(data), "step": statistics.median(t for t, _ in pairs),
            "fast_data": statistics.median(d for _, d in fast),
            "slow_data": statistics.median(d for _, d in slow),
            "fast_step": statistics.median(t for t, _ in fast),
            "slow_step": statistics.median(t for t, _ in slow),
            "slow_share": len(slow) / len(pairs), "pauses": len(every) - len(pairs)}


def step_noise_table(logs: list[Path], root: Path) -> str:
    rows = ["| log | steps | median step (s) | median data_time (ms) | r(data_time, time) "
            "| data_time: fast / slow group (ms) | step: fast / slow group (s) "
            "| steps in the slow group | pauses left out |",
            "|---|---|---|---|---|---|---|---|---|"]
    runs = []
    for log in logs:
        row = log_row(log.read_text(encoding="utf-8", errors="replace"))
        if row is None:
            continue
        runs.append(row)
        rows.append(f"| {log.relative_to(root)} | {row['steps']} | {row['step']:.3f} "
                    f"| {row['data'] * 1000:.1f} | {row['r']:.2f} "
                    f"| {row['fast_data'] * 1000:.1f} / {row['slow_data'] * 1000:.1f} "
                    f"| {row['fast_step']:.3f} / {row['slow_step']:.3f} "
                    f"| {row['slow_share']:.0%} | {row['pauses']} |")
    if not runs:
        return "No training log with enough steps."
    across = correlation([r["data"] for r in runs], [r["step"] for r in runs])
    return "\n".join(rows) + (f"\n\nAcross these {len(runs)} runs, r(median data_time, "
                              f"median step) = {across:.2f}.")


def issue18_logs(results: Path) -> list[Path]:
    """The app's fast-recipe logs of issue 18's calls, in the order of the calls."""
    return [log for folder in ("issue18", "issue18_warm", "issue18_shared")
            for log in sorted((results / folder).rglob("app_fast*.log"))]


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]]
    print(step_noise_table([p.resolve() for p in paths], Path.cwd().resolve()))
