"""bench/results/lesson_full/ (run_bench.py --phase lesson_full, two chained
device calls) -> a RESULTS.md section: how far the lesson's own recipe got,
its loss along the way, and its outcome check.

losses.csv comes from the calls' training logs (app_lesson.log in each
call's archive), in call order:
    python3 bench/report/lesson_full.py CALL1_LOG CALL2_LOG > bench/results/lesson_full/losses.csv
"""
from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.report.explore import reproduced  # noqa: E402

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


def _how_call_ended(run: dict) -> str:
    steps = run["train"]["iters"]
    saved = (run.get("checkpoint") or {}).get("name")
    if steps == run["train"].get("max_iters"):
        return f"reached the last step, {steps}, and saved {saved}"
    if saved == f"iter_{steps}.pth":
        return (f"trained to step {steps}, then stopped as the app's Stop button does "
                f"(SaveOnStopHook saved {saved}, that very step)")
    return f"trained to step {steps} when its budget ran out; its last checkpoint was {saved}"


def lesson_full_section(folder: Path) -> str:
    resumed = folder / "results_lesson_full_resumed.json"
    if not resumed.is_file():
        return "Not run yet."
    first = json.loads((folder / "results_lesson_full.json").read_text())["lesson_full"]
    second = json.loads(resumed.read_text())["lesson_full"]
    answers = second.get("outcome", {}).get("answers", [])
    passed = reproduced(answers)
    lines = [
        f"- Call 1 {_how_call_ended(first)}.",
        f"- Call 2 resumed from {second['resumed_from']} and {_how_call_ended(second)}; the "
        f"outcome check ran on **{(second.get('checkpoint') or {}).get('name')}**.",
        f"- Outcome: **{passed} of {len(answers)}** trained questions reproduced "
        "(ROUGE-L >= 0.9):",
        "",
    ]
    lines += [f"  - {a['question']} -> \"{a['answer'][:100]}\" ({a['rouge_l']:.2f})"
              for a in answers]
    lines += ["", "Loss along the way (mmengine logs every step, one sample each):", ""]
    lines += _loss_rows(folder)
    return "\n".join(lines)


def partial_run_line(folder: Path) -> str:
    """An earlier attempt that did not reach the end: how far, and its outcome."""
    run = json.loads((folder / "results_lesson_full_resumed.json").read_text())["lesson_full"]
    answers = run.get("outcome", {}).get("answers", [])
    return (f"reached step {run['train']['iters']} of 1,200 over two calls; its "
            f"{(run.get('checkpoint') or {}).get('name')} reproduced {reproduced(answers)} of "
            f"{len(answers)}")


if __name__ == "__main__":
    sys.stdout.write(losses_csv([Path(arg) for arg in sys.argv[1:]]))
