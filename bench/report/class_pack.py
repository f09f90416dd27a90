"""A class through the slot scheduler (bench/suite/class_pack.py's JSON) -> its verdict
and a RESULTS.md table. Pure: the device call prints the same summary it writes.

The issue's bench: a class of N lesson-recipe runs submitted at once ends all
``done``, none out of memory, in a makespan at most 0.35x of the same N runs
one after another (N x one run alone, timed in the same call); with more runs
than fit at once, the first wave is packed and the rest start in fair order.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

TARGET_RATIO = 0.35   # issue 15: 8 lesson runs packed vs one after another
RATIO_FROM = 8        # the target is the for a class of 8 or more


def _submitted(runs: list[dict]) -> list[dict]:
    return [r for r in runs if not r.get("refused")]


def fair_order_kept(runs: list[dict]) -> bool:
    """The runs that waited started in the order of their queue positions
    (one run per student: fair order is the order they were submitted in)."""
    waited = sorted((r for r in runs if r.get("queue_position_at_submit")),
                    key=lambda r: r["queue_position_at_submit"])
    starts = [r.get("started_at") for r in waited]
    if any(s is None for s in starts):
        return False
    return all(a <= b for a, b in zip(starts, starts[1:]))


def _gb(values: list) -> float | None:
    """The largest of these byte counts, in GB (None: none recorded)."""
    values = [v for v in values if v is not None]
    return round(max(values) / 1e9, 2) if values else None


def disk_figures(runs: list[dict]) -> dict:
    """Per run, the disk the app reserved (its estimate) against its folder at the
    end (the final checkpoint and both converted folders): the largest of each,
    and the owners whose folder outgrew the reservation."""
    return {"disk_reserved_gb": _gb([r.get("reserved_bytes") for r in runs]),
            "disk_measured_gb": _gb([r.get("folder_bytes") for r in runs]),
            "disk_over_estimate": [r["owner"] for r in runs
                                   if r.get("reserved_bytes") and r.get("folder_bytes")
                                   and r["folder_bytes"] > r["reserved_bytes"]]}


def summarize(result: dict) -> dict:
    """The figures and checks of one class run (``result``: class_pack.py's JSON)."""
    runs = result["class"]["runs"]
    submitted = _submitted(runs)
    t0 = result["class"]["submitted_at"]
    ends = [r["ended_at"] for r in submitted if r.get("ended_at")]
    # Runs the budget stopped have ended too, but the class did not finish.
    finished = bool(submitted) and len(ends) == len(submitted) and not result.get("timed_out")
    makespan = round(max(ends) - t0, 1) if finished else None
    alone = result.get("alone_s")
    n = len(runs)
    sequential = round(n * alone, 1) if alone else None
    ratio = round(makespan / sequential, 3) if makespan and sequential else None
    oom = [r["owner"] for r in runs if r.get("oom")]
    peaks = [r["peak_mib"] for r in runs if r.get("peak_mib")]
    first_wave = [r for r in submitted if r.get("state_at_submit") == "running"]
    checks = {"all_done": bool(runs) and all(r.get("state") == "done" for r in runs),
              "no_oom": not oom, "fair_order": fair_order_kept(submitted)}
    if n >= RATIO_FROM and alone:  # no run alone timed (--no-alone): no ratio to check
        checks["ratio"] = ratio is not None and ratio <= TARGET_RATIO
    return {
        "students": n, "refused": n - len(submitted), "makespan_s": makespan,
        "alone_s": alone, "sequential_s": sequential, "ratio": ratio,
        "target_ratio": TARGET_RATIO if "ratio" in checks else None,
        "first_wave": len(first_wave),
        "first_wave_devices": dict(Counter(r["device"] for r in first_wave)),
        "devices": dict(Counter(r["device"] for r in submitted if r.get("device"))),
        "queued_at_submit": sum(1 for r in submitted if r.get("queue_position_at_submit")),
        "states": dict(Counter(r.get("state") for r in runs)), "oom": oom,
        "peak_mib": max(peaks) if peaks else None, "timed_out": result.get("timed_out", False),
        **disk_figures(submitted),
        "checks": checks, "passed": all(checks.values()),
    }


def _seconds(value) -> str:
    return "–" if value is None else f"{value:.0f} s"


def _gigabytes(value) -> str:
    return "–" if value is None else f"{value:.2f} GB"


def summary_lines(s: dict) -> list[str]:
    """What the device call prints (its output is all one reads before the next call)."""
    ratio = "–" if s["ratio"] is None else f"{s['ratio']:.3f}"
    target = f" (target <= {s['target_ratio']})" if s["target_ratio"] else ""
    return [
        f"class of {s['students']}: states {s['states']}, refused at submit {s['refused']}"
        + (", TIMED OUT (budget)" if s["timed_out"] else ""),
        f"first wave placed at submit: {s['first_wave']} {s['first_wave_devices']}; "
        f"queued at submit: {s['queued_at_submit']}; fair order kept: {s['checks']['fair_order']}",
        f"devices used: {s['devices']}; peak per run {s['peak_mib'] or '–'} MiB (mmengine); "
        f"out of memory: {s['oom'] or 'none'}",
        f"disk a run: reserved {_gigabytes(s['disk_reserved_gb'])}, its folder at the end "
        f"{_gigabytes(s['disk_measured_gb'])} (largest of each); over the reservation: "
        f"{s['disk_over_estimate'] or 'none'}",
        f"makespan packed {_seconds(s['makespan_s'])} / (N x one alone "
        f"{_seconds(s['alone_s'])} = {_seconds(s['sequential_s'])}) = {ratio}{target}",
        f"checks {s['checks']} -> {'PASSED' if s['passed'] else 'NOT PASSED'}",
    ]


def class_pack_section(folder: Path) -> str:
    """One row per class run found in ``folder`` (class_pack_*.json)."""
    paths = sorted(folder.glob("class_pack_*.json"))
    if not paths:
        return "Not run yet."
    rows = ["| run | GPUs | students | first wave (devices) | states | peak MiB | OOM | "
            "disk a run: reserved / at end | makespan | one alone | ratio (target) | passed |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in paths:
        result = json.loads(path.read_text())
        s, meta = summarize(result), result.get("meta", {})
        devices = ", ".join(f"{d}: {c}" for d, c in sorted(s["first_wave_devices"].items()))
        target = f" ({s['target_ratio']})" if s["target_ratio"] else ""
        rows.append(
            f"| {path.stem.removeprefix('class_pack_')} | {meta.get('gpus') or 'all'} | "
            f"{s['students']} | {s['first_wave']} ({devices}) | "
            f"{', '.join(f'{k} {v}' for k, v in s['states'].items())} | {s['peak_mib'] or '–'} | "
            f"{len(s['oom'])} | {_gigabytes(s['disk_reserved_gb'])} / "
            f"{_gigabytes(s['disk_measured_gb'])} | {_seconds(s['makespan_s'])} | "
            f"{_seconds(s['alone_s'])} | "
            f"{'–' if s['ratio'] is None else s['ratio']}{target} | {s['passed']} |")
    return "\n".join(rows)
