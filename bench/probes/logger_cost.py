"""What mmengine's log line every step costs the host, on the CPU.

A fast-recipe step on the H200 waits on the host's Python (bench/RESULTS.md,
issue 18: the step follows ``data_time``). mmengine's IterTimerHook stops a
step's clock before the logger hook runs, so the logger's work after step N
shows in step N+1's ``data_time``. The app logs every step (the progress view
reads each step's loss); logging every 10th, the logged steps follow steps
that did not log. The difference of the two medians is the logger's cost a
step, which is host work and so the same kind of cost here as on the GPU
machine (not the same number: another CPU). Narrow models of the real depth
(24 LLM and 24 CLIP layers), op_count.real_depth_models.

    python bench/probes/logger_cost.py          # about 5 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

from bench.report.step_noise import steps  # noqa: E402

VARIANTS = {"logger every step (the app)": 1, "logger every 10th step": 10}


def measure(work: Path, name: str, interval: int, paths, seq_len: int, repeats: int) -> dict:
    from bench.suite import flows

    out = work / f"interval_{interval}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = flows.Context(paths=paths, work=out / "work", out=out, tiny=True,
                        started=time.monotonic(), budget_s=1800, seq_len=seq_len)
    ctx.convert = False
    run = flows.app_flow(ctx, "lesson", repeats, answer=False,
                         config_lines=("model['use_activation_checkpointing'] = False",
                                       f"default_hooks['logger']['interval'] = {interval}"))
    logged = steps((out / "app_lesson.log").read_text(encoding="utf-8", errors="replace"))
    return {"variant": name, "interval": interval, "train_rc": run["train_rc"],
            "logged_steps": len(logged),
            "data_time_ms": statistics.median(d for _, d in logged) * 1000,
            "step_s": statistics.median(t for t, _ in logged)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/studio-logger-cost"))
    parser.add_argument("--repeats", type=int, default=40, help="6 samples each: 240 steps")
    args = parser.parse_args()
    from bench.probes.op_count import real_depth_models
    from bench.suite.fixtures import seq_len

    paths = real_depth_models(args.work / "models")
    rows = [measure(args.work, name, interval, paths, seq_len(paths), args.repeats)
            for name, interval in VARIANTS.items()]
    print("| variant | logged steps | median data_time (ms) | median step (s) |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['variant']} | {row['logged_steps']} | {row['data_time_ms']:.1f} "
              f"| {row['step_s']:.3f} |")
    every, tenth = rows
    print(f"\nThe logger a step: {every['data_time_ms'] - tenth['data_time_ms']:.1f} ms of host time.")
    (args.work / "logger_cost.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
