"""The issue's multi-GPU run, through the app: its backend as app.py builds it
(``build_services``) with ``--gpus``, ``--gpus-per-run`` (default: every GPU
of ``--gpus``, one torchrun run over them) and ``--deepspeed``, a dataset made by the
DatasetStore, ``TrainingService.start``, and the JobManager's worker running
train + both pth_to_hf steps (own process group, run.log, SQLite registry).
Passes when the run ends ``done`` and its log has one ``[studio] rank R of N``
line per rank (backend/studio_hooks.RankReportHook). The device has no gradio;
the backend needs none, so only the page itself is left out.

On a 2-GPU device (carry .whl, see bench/README.md):
    bash bench/device/multi_gpu_app.sh --gpus 0,1 --deepspeed deepspeed_zero2
Here, the same code on CPU with toy sizes and one process (a plumbing check
that tests/app/test_multi_gpu_app.py runs):
    python bench/suite/multi_gpu_app.py --tiny --out /tmp/multi-gpu
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.suite.build_models import build_all  # noqa: E402
from bench.suite.fixtures import CORPUS, IMAGE, QA  # noqa: E402

FINAL_STATES = ("done", "failed", "stopped")
RANK_LINE = re.compile(r"\[studio\] rank (\d+) of (\d+) trains on (\S+)")


def ranks_in(log: str) -> dict[int, str]:
    """{rank: device} from the RankReportHook lines of a run's log."""
    return {int(rank): device for rank, _world, device in RANK_LINE.findall(log)}


def wait_for(jobs, run_id: str, deadline: float) -> dict:
    while True:
        snapshot = jobs.snapshot(run_id)
        if snapshot["state"] in FINAL_STATES:
            return snapshot
        if time.monotonic() > deadline:
            jobs.stop(run_id)
            return {**jobs.snapshot(run_id), "timed_out": True}
        time.sleep(2)


def run(args) -> dict:
    from backend.data import dataset
    from backend.services import build_services
    from backend.settings import Settings

    started = time.monotonic()
    if args.tiny:
        from bench.suite.flows import use_tiny_sizes
        use_tiny_sizes()
    device = "cpu" if args.tiny else "cuda"
    paths, build_s = build_all(args.work / "models", CORPUS, device)
    settings = Settings(work_dir=args.work / "studio", profile="custom", llm_path=paths.llm,
                        visual_encoder_path=paths.visual_encoder,
                        pretrained_pth=paths.pretrained_pth, recipe="lesson",
                        gpus=args.gpus, deepspeed=args.deepspeed,
                        gpus_per_run=args.gpus_per_run or len(args.gpus.split(",")),
                        allow_cpu=args.tiny)  # the tiny check run trains on the CPU on purpose
    services = build_services(settings)
    try:
        stored = services.datasets.create(IMAGE, dataset.conversations_from_rows(QA),
                                          args.repeats)
        # Evaluations only before and after training; one checkpoint at the end.
        options = {"evaluation_freq": 10_000, "save_steps": 10_000}
        submitted = services.training.start(stored.dataset_id, json.dumps(options))
        run_id = submitted["run_id"]
        snapshot = wait_for(services.jobs, run_id, started + args.budget_s)
        log = (services.jobs.run_dir(run_id) / "run.log").read_text(errors="replace")
    finally:
        services.close()
    gpu = services.training.gpu
    world = gpu.launch.nproc if gpu else 1
    ranks = ranks_in(log)
    return {
        "device": device, "gpus": args.gpus, "deepspeed": args.deepspeed,
        "build_s": round(build_s, 1), "seconds": round(time.monotonic() - started, 1),
        "run_id": run_id, "state": snapshot["state"], "error": snapshot.get("error", ""),
        "timed_out": snapshot.get("timed_out", False), "samples": stored.samples,
        "world_size": world, "ranks": ranks,
        # The JobManager writes each step's argv into the log ("==> [time] step: argv").
        "step_lines": [line for line in log.splitlines() if line.startswith("==> ")],
        "launch_env": gpu.launch.env() if gpu else {},
        "placed_on": snapshot.get("device", ""),
        "rank_lines": [line for line in log.splitlines() if RANK_LINE.search(line)],
        "log_tail": log[-3000:],
        "passed": snapshot["state"] == "done" and sorted(ranks) == list(range(world)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/studio-multi-gpu"))
    parser.add_argument("--gpus", default="0,1")
    parser.add_argument("--gpus-per-run", type=int, default=0,
                        help="GPUs the run takes (default: all of --gpus)")
    parser.add_argument("--deepspeed", default="deepspeed_zero2")
    parser.add_argument("--repeats", type=int, default=2, help="6 conversations x REPEATS")
    parser.add_argument("--budget-s", type=float, default=540)
    parser.add_argument("--tiny", action="store_true", help="CPU, toy sizes, one process")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = run(args)
    (args.out / "results_multi_gpu.json").write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: result[k] for k in ("state", "error", "world_size", "ranks",
                                             "rank_lines", "seconds", "passed")}, indent=1))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
