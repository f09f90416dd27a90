"""bench/results/lesson_full/ (run_bench.py --phase lesson_full, two chained
device calls) -> a RESULTS.md section: how far the lesson's own recipe got,
its loss along the way, and its outcome check.

losses.csv comes from the calls' training logs (app_lesson.log in each
call's archive), in call order:
    python3 bench/report_lesson_full.py CALL1_LOG CALL2_LOG > bench/results/lesson_full/losses.csv
"""
from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report_explore import reproduced  # noqa: E402

# mmengine's per-step line: the step, its lr, its time, its loss.
STEP_RECORD = re.compile(r"Iter\(train\) \[\s*(\d+)/\d+\].*?\blr: ([\d.e+-]+).*?"
                         r"\btime: ([\d.]+).*?\bloss: ([\d.]+)")


def losses_csv(logs: list[Path]) -> str:
    """One row per logged step of each call's log; calls named a, b, ..."""
    rows = ["iteration,loss,lr,seconds_per_iter,call"]
    for call, log in zip("abcdefgh", logs):
        for step, lr, seconds, loss in STEP_RECORD.findall(log.read_text(errors="replace")):
            rows.append(f"{step},{loss},{lr},{seconds},{call}")
    return "\n".join(rows) + "\n"


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
    passed = reproduced(answers)
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


if __name__ == "__main__":
    sys.stdout.write(losses_csv([Path(arg) for arg in sys.argv[1:]]))
