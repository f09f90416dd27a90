"""Between two chained device calls there is no time to read results (the
machine goes back after 30 s idle), so the second call picks for itself: the
fastest fast-recipe probe of the first call that trained, by its s/iter.

    python3 bench/probes/pick_probe.py /tmp/probe-results FALLBACK_SPEC
prints that probe's variant spec, or FALLBACK_SPEC when none trained.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

from bench.report.summarize import runs  # noqa: E402

MIN_STEPS = 20  # a probe that died early says nothing about its pace
# Finished, or killed by its budget (bench/suite/procs.py SIGKILLs it): both trained
# at the pace they logged. Any other ending is a crash.
TRAINED = (0, -9)


def pick(folder: Path, fallback: str) -> str:
    best = None
    for path in sorted(folder.glob("*.json")):
        results = json.loads(path.read_text())
        argv = results.get("meta", {}).get("argv", [])
        spec = argv[argv.index("--fast-variants") + 1] if "--fast-variants" in argv else None
        for _name, run in runs(results):
            train = run.get("train", {})
            pace = train.get("s_per_iter")
            if spec and run.get("train_rc") in TRAINED and (train.get("iters") or 0) >= MIN_STEPS \
                    and pace and (best is None or pace < best[0]):
                best = (pace, spec)
    return best[1] if best else fallback


if __name__ == "__main__":
    print(pick(Path(sys.argv[1]), sys.argv[2]))
