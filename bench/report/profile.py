"""bench/results/profile/*/summary.json (run_bench.py --profile) -> a
RESULTS.md section: where a fast-recipe step's time goes."""
from __future__ import annotations

import json
from pathlib import Path


def profile_section(folder: Path) -> str:
    rows = ["| run | steps profiled | wall s/step | GPU busy s/step | GPU busy | "
            "kernel launches/step | aten calls/step |", "|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("*/summary.json")):
        s = json.loads(path.read_text())
        name = path.parent.name.removeprefix("profile_fast_")
        rows.append(f"| {name} | {s['steps']} | {s['wall_s_per_step']} "
                    f"| {s['gpu_busy_s_per_step']} | {s['gpu_busy_fraction']:.0%} "
                    f"| {s['kernel_launches_per_step']} | {s.get('aten_calls_per_step', '-')} |")
    return "\n".join(rows) if len(rows) > 2 else "Not run yet."
