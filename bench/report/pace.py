"""bench/results/pace/ (short batch-1 runs side by side on the two
GPUs of one host, so they share its CPU alike) and op_count.json (CPU,
bench/probes/op_count.py) -> a RESULTS.md section, with the pace extrapolated to the
lesson's 1,200 steps on top of a measured whole-length run's other costs."""
from __future__ import annotations

import json
from pathlib import Path

from bench.report.summarize import runs

FULL_STEPS = 1200


def _runs(folder: Path):
    for path in sorted(folder.glob("b*.json")):
        for _name, run in runs(json.loads(path.read_text())):
            if run.get("train"):
                yield path.stem, run


def end_to_end_at(s_per_iter: float, whole_run: dict) -> float:
    """A whole-length run's end to end with its loop at another pace: start-up,
    save, chat load and answers stay as measured."""
    other = whole_run["end_to_end_s"] - whole_run["train"]["loop_s"]
    return other + FULL_STEPS * s_per_iter


def pace_section(folder: Path, whole_run: dict, cli_full_s: float | None) -> str:
    if not folder.is_dir():
        return "Not run yet."
    lines = ["| variant | steps | s/iter | peak GiB (mmengine) | estimate GiB | end to end at "
             "1,200 steps (s), estimated | / CLI |", "|---|---|---|---|---|---|---|"]
    for stem, run in _runs(folder):
        train = run["train"]
        full = end_to_end_at(train["s_per_iter"], whole_run)
        versus = f"{full / cli_full_s:.2f}" if cli_full_s else "–"
        lines.append(f"| {stem} | {train['iters']} | {train['s_per_iter']} "
                     f"| {train['peak_mib'] / 1024:.2f} | {run.get('estimate_train_gib')} "
                     f"| {full:.0f} | {versus} |")
    counts = folder / "op_count.json"
    if counts.is_file():
        rows = json.loads(counts.read_text())
        base = rows[0]["aten_calls_per_step"]
        lines += ["", "Operator calls per step on the CPU (`python bench/probes/op_count.py`: narrow "
                  "models of the real depth, fp32, no activation checkpointing):", "",
                  "| variant | operator calls per step | vs the lesson's LoRA shapes |",
                  "|---|---|---|"]
        lines += [f"| {r['variant']} | {r['aten_calls_per_step']} "
                  f"| {r['aten_calls_per_step'] / base:.2f} |" for r in rows]
    return "\n".join(lines)
