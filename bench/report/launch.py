"""bench/results/launch/*.json (bench/device/launch_probe.sh) -> a RESULTS.md section."""
from __future__ import annotations

import json
from pathlib import Path

WHAT = {"ds_plain": "the app's 1-GPU argv + `--deepspeed deepspeed_zero2` (the lesson's command)",
        "ds_torchrun": "the app's multi-GPU argv (torchrun, `--launcher pytorch`) + ZeRO-2, 1 process",
        "ddp_torchrun": "the app's multi-GPU argv without DeepSpeed (DDP), 1 process"}


def launch_section(folder: Path) -> str:
    rows = ["| DeepSpeed | launch | exit | iterations | checkpoint | s/iter | peak GiB | what failed |",
            "|---|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("results_launch_*.json")):
        version = path.stem.rsplit("_", 1)[-1]
        for name, run in json.loads(path.read_text()).items():
            if not isinstance(run, dict) or "rc" not in run:
                continue
            stats = run.get("stats", {})
            failed = (run.get("failure") or ("see log" if run["rc"] else ""))[:110]
            failed = failed.replace("|", "/")
            kind = "folder" if run.get("checkpoint_is_dir") else "file"
            rows.append(
                f"| {version} | {WHAT.get(name, name)} | {run['rc']} | {stats.get('iters', 0)} "
                f"| {(run.get('checkpoint') or '-') + (f' ({kind})' if run.get('checkpoint') else '')} "
                f"| {stats.get('s_per_iter', '-')} "
                f"| {round(stats['peak_mib'] / 1024, 2) if stats.get('peak_mib') else '-'} "
                f"| {failed} |")
    return "\n".join(rows)
