"""bench/results/compile/ (torch.compile of the batch-1 bf16
recipe, the one that reproduced most answers) -> a RESULTS.md section. All
ran on GPU 1 of a 2-GPU host while GPU 0 trained the lesson recipe, so their
step times share a CPU with it; notes.json says what each run's log showed."""
from __future__ import annotations

import json
from pathlib import Path

from bench.report.explore import reproduced
from bench.report.summarize import runs


def compile_section(folder: Path) -> str:
    if not folder.is_dir():
        return "Not run yet."
    notes = json.loads((folder / "notes.json").read_text())
    lines = ["| run | exit | steps | first step (s) | s/iter after it | reproduced | what happened |",
             "|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("call*.json")):
        results = json.loads(path.read_text())
        for _name, run in runs(results):
            train = run.get("train", {})
            answers = (run.get("outcome") or {}).get("answers", [])
            first = train.get("first_iter_s")
            lines.append(
                f"| {path.stem} | {run.get('train_rc')} | {train.get('iters')} "
                f"| {'-' if first is None else f'{first:.0f}'} | {train.get('s_per_iter') or '-'} "
                f"| {f'{reproduced(answers)} of {len(answers)}' if answers else '-'} "
                f"| {notes.get(path.name, '')} |")
    return "\n".join(lines)
