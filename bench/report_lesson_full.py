"""bench/results/lesson_full/ (run_bench.py --phase lesson_full, two chained
device calls) -> a RESULTS.md section: how far the lesson's own recipe got,
its loss along the way, and its outcome check."""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

THRESHOLD = 0.9


def _loss_rows(folder: Path, every: int = 100) -> list[str]:
    path = folder / "losses.csv"
    if not path.is_file():
        return []
    # Call 2 redid the steps after its checkpoint: the later record wins.
    rows = list({r["iteration"]: r for r in csv.DictReader(path.open())}.values())
    lines = ["| steps | median loss | max loss | median s/iter |", "|---|---|---|---|"]
    last = max(int(r["iteration"]) for r in rows)
    for start in range(0, last, every):
        window = [r for r in rows if start < int(r["iteration"]) <= start + every]
        if not window:
            continue
        losses = [float(r["loss"]) for r in window]
        pace = statistics.median(float(r["seconds_per_iter"]) for r in window)
        lines.append(f"| {start + 1}-{min(start + every, last)} | {statistics.median(losses):.3f} "
                     f"| {max(losses):.3f} | {pace:.3f} |")
    return lines


def lesson_full_section(folder: Path) -> str:
    resumed = folder / "results_lesson_full_resumed.json"
    if not resumed.is_file():
        return "Not run yet."
    first = json.loads((folder / "results_lesson_full.json").read_text())["lesson_full"]
    second = json.loads(resumed.read_text())["lesson_full"]
    answers = second.get("outcome", {}).get("answers", [])
    passed = sum(a["rouge_l"] >= THRESHOLD for a in answers)
    lines = [
        f"- Call 1 trained to step {first['train']['iters']} (budget reached; checkpoint "
        f"{(first.get('checkpoint') or {}).get('name')} saved), call 2 resumed from "
        f"{second['resumed_from']} and reached step {second['train']['iters']} of 1,200 before "
        f"its budget; the outcome check ran on the last saved checkpoint, "
        f"**{(second.get('checkpoint') or {}).get('name')}**.",
        f"- Outcome at that checkpoint: **{passed} of {len(answers)}** trained questions "
        "reproduced (ROUGE-L >= 0.9):",
        "",
    ]
    lines += [f"  - {a['question']} -> \"{a['answer'][:100]}\" ({a['rouge_l']:.2f})"
              for a in answers]
    lines += ["", "Loss along the way (mmengine logs every step, one sample each):", ""]
    lines += _loss_rows(folder)
    return "\n".join(lines)
