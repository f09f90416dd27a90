"""Print what a device call's results say, compactly (the call's output is
the only thing read before the next decision): for every results_*.json
under the given folders, each run's steps, s/iter, outcome answers; for every
profile summary, where the step's time went.

    python3 bench/report/summarize.py "$OUT"
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

from bench.report.explore import reproduced  # noqa: E402


def runs(results: dict):
    for name, run in results.items():
        if name != "meta" and isinstance(run, dict):
            yield name, run


def describe(name: str, run: dict) -> list[str]:
    if name == "compare":
        return [f"compare app: {a['first_tokens_s']:.2f} s to both first tokens, "
                f"{a['both_s']:.2f} s to both answers" for a in run.get("app", [])] + [
            f"compare xtuner chat {who}: rc {c['rc']} answer {c['answer_s']} s"
            for who, c in run.get("xtuner_chat", {}).items()]
    train = run.get("train", {})
    outcome = run.get("outcome") or {}
    answers = outcome.get("answers", [])
    passed = reproduced(answers)
    lines = [f"{name}: rc {run.get('train_rc')} iters {train.get('iters')} "
             f"s/iter {train.get('s_per_iter')} resumed {run.get('resumed_from')} "
             f"e2e {run.get('end_to_end_s')} reproduced {passed}/{len(answers)} "
             f"peak {train.get('peak_mib')} MiB first iter {train.get('first_iter_s')} s "
             f"loop {train.get('loop_s')} s after {train.get('after_loop_s')} s "
             f"start-up {train.get('start_phases_s')} "
             f"{run.get('error', '')}{run.get('skipped', '')}"]
    lines += [f"    {a['rouge_l']:.2f} {a['answer'][:90]}" for a in answers]
    return lines


def main(folders: list[str]) -> None:
    for folder in folders:
        for path in sorted(Path(folder).rglob("results_*.json")):
            for name, run in runs(json.loads(path.read_text())):
                print("\n".join(describe(name, run)))
        for path in sorted(Path(folder).rglob("summary.json")):
            print(path.parent.name, path.read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
