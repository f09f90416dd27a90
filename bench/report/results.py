"""The merged results_*.json of the device runs, and the figures every section shares."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"

FULL = 1200  # the lesson's samples: 6 conversations x 200 repeats, batch 1 = iterations


@dataclass(frozen=True)
class Results:
    """results_*.json merged by flow name; `folder` holds the sections' own raw folders."""
    flows: dict
    folder: Path = RESULTS

    def flow(self, name: str) -> dict:
        return self.flows.get(name, {})

    @property
    def meta(self) -> dict:
        return self.flows.get("meta_app") or self.flows.get("meta_cli") or {}

    @property
    def cli(self) -> dict:
        return self.flow("cli")

    @property
    def lesson(self) -> dict:
        return self.flow("app_lesson")

    @property
    def fast(self) -> dict:
        return self.flow("app_fast")


def load(dirs: list[Path]) -> Results:
    merged: dict = {}
    for folder in dirs:
        for path in sorted(folder.glob("results_*.json")):
            data = json.loads(path.read_text())
            merged[f"meta_{data['meta']['phase']}"] = data["meta"]
            merged.update({k: v for k, v in data.items() if k != "meta"})
    return Results(merged)


def fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def full(flow: dict) -> float | None:
    """End to end, extrapolated to the lesson's 1,200 samples at the measured s/iter."""
    if not flow or "end_to_end_s" not in flow:
        return None
    train = flow["train"]
    batch = flow.get("batch_size", 1)
    # mmengine logs every N steps: a run that finished ran all its steps.
    steps = train.get("max_iters") if flow.get("train_rc") == 0 else None
    done = (steps or train["iters"]) * batch
    return flow["end_to_end_s"] + (FULL - done) / batch * train["s_per_iter"]


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def peak_gib(flow: dict) -> float:
    return flow.get("train", {}).get("peak_mib", 0) / 1024
