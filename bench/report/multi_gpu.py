"""bench/results/multi_gpu/ (bench/device/multi_gpu_app.sh) -> a RESULTS.md section."""
from __future__ import annotations

import json
import re
from pathlib import Path

from bench.suite.procs import ITER_LINE

STEP_LINE = re.compile(r"^==> \[(\d\d):(\d\d):(\d\d)\] (\w+):")


def _seconds(match: re.Match) -> int:
    hours, minutes, seconds = (int(match[i]) for i in (1, 2, 3))
    return hours * 3600 + minutes * 60 + seconds


def step_durations(log: str) -> dict[str, int]:
    """Seconds between the JobManager's step lines (the last step: unknown)."""
    starts = [(m[4], _seconds(m)) for m in map(STEP_LINE.match, log.splitlines()) if m]
    return {name: later - start for (name, start), (_n, later) in zip(starts, starts[1:])}


def multi_gpu_section(folder: Path) -> str:
    path = folder / "results_multi_gpu.json"
    if not path.is_file():
        return "Not run yet."
    result = json.loads(path.read_text())
    log = (folder / "run.log").read_text(errors="replace") if (folder / "run.log").is_file() else ""
    iters = ITER_LINE.findall(log)
    steps = step_durations(log)
    ranks = ", ".join(f"rank {r} on {d}" for r, d in sorted(result["ranks"].items()))
    env = " ".join(f"{k}={v}" for k, v in result["launch_env"].items())
    last = iters[-1] if iters else ("0", "0", "-", "0")
    peak_mib = max((int(i[3]) for i in iters if i[3]), default=0)
    return f"""| | |
|---|---|
| command | `bash bench/device/multi_gpu_app.sh --gpus {result['gpus']} --deepspeed {result['deepspeed']}` |
| run state | **{result['state']}** {result['error']} (passed: {result['passed']}) |
| processes | {result['world_size']}: {ranks} (RankReportHook lines in run.log) |
| launch env | `{env}` |
| data | 6 conversations x {result['samples'] // 6} = {result['samples']} samples, batch 1 per GPU: {last[1]} steps |
| last step time, peak per GPU (mmengine) | {last[2]} s, {peak_mib / 1024:.1f} GiB |
| JobManager steps (s) | {', '.join(f'{k} {v}' for k, v in steps.items())}, then the last pth_to_hf |
| whole call (s) | {result['seconds']} (models built in {result['build_s']} s) |"""
