"""Issue 15's GPU bench: a class of N lesson-recipe runs through the slot scheduler.

The app's backend as app.py builds it (``build_services`` with ``--gpus``,
``--runs-per-device``, ``--max-active-per-user 1`` and a login per student, so
the per-student limit applies as in class) on the random real-size models of
bench/suite/build_models.py. First ONE run alone (its time x N is the class
one after another; deleted before the class, so its disk is theirs), then N
students each build a dataset and start one run, all at once. Per run: device,
placed/ended times, state, peak memory (mmengine's ``memory:``), out of memory
or not, the disk the app reserved for it and its folder's size at the end; on
a GPU, the most memory nvidia-smi saw used on each GPU. Summary and checks: bench/report/class_pack.py.

On the device (carry .whl, see bench/README.md):
    bash bench/device/class_pack.sh [--students 8] [--gpus 0] [--repeats 5]
Here, the same code on the CPU with toy sizes (tests/app/test_class_pack.py):
    python bench/suite/class_pack.py --tiny --students 2 --runs-per-device 2 --out /tmp/class
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.report.class_pack import summarize, summary_lines  # noqa: E402
from bench.suite.build_models import build_all  # noqa: E402
from bench.suite.fixtures import CORPUS, IMAGE, QA  # noqa: E402
from bench.suite.procs import ITER_LINE  # noqa: E402

FINAL_STATES = ("done", "failed", "stopped")
OOM = re.compile(r"out of memory|OutOfMemoryError", re.IGNORECASE)
# Evaluations only before and after training; one checkpoint, at the end
# (a lesson save_steps checkpoint is ~6.5 GB: a class's disk is the limit otherwise).
OPTIONS = {"evaluation_freq": 10_000, "save_steps": 10_000, "save_total_limit": 1}
PASSWORD = "pw"


def student_names(count: int) -> list[str]:
    return [f"student{i:02d}" for i in range(1, count + 1)]


def log_stats(log: str) -> dict:
    """Iterations, median s/iter and peak MiB of a run's log; out of memory or not."""
    found = ITER_LINE.findall(log)
    times = [float(t) for _i, _n, t, _m in found[1:]]  # the first step warms up
    peaks = [int(m) for *_rest, m in found if m]
    return {"iterations": int(found[-1][0]) if found else 0,
            "s_per_iter": round(statistics.median(times), 3) if times else None,
            "peak_mib": max(peaks) if peaks else None, "oom": bool(OOM.search(log))}


class GpuSampler:
    """The most memory nvidia-smi saw used on each GPU while the runs went."""

    def __init__(self):
        self.peak_used: dict[int, int] = {}

    def sample(self) -> None:
        from backend.training.gpu import list_gpus

        for gpu in list_gpus():
            used = gpu.total_bytes - gpu.free_bytes
            self.peak_used[gpu.index] = max(used, self.peak_used.get(gpu.index, 0))

    def gib(self) -> dict[int, float]:
        return {i: round(used / 1024 ** 3, 1) for i, used in sorted(self.peak_used.items())}


def make_services(args, paths, owners: list[str]):
    from backend.services import build_services
    from backend.settings import Settings

    settings = Settings(
        work_dir=args.work / "studio", profile="custom", llm_path=paths.llm,
        visual_encoder_path=paths.visual_encoder, pretrained_pth=paths.pretrained_pth,
        recipe="lesson", gpus=args.gpus, runs_per_device=args.runs_per_device,
        max_active_per_user=1, auth=tuple(f"{o}:{PASSWORD}" for o in owners),
        max_queue=max(8, args.students), allow_cpu=args.tiny)
    return build_services(settings)


def build_dataset(services, owner: str, repeats: int) -> str:
    """A student's dataset, as the Data tab builds it: the bench's six Q&A x ``repeats``."""
    from backend.data import dataset

    return services.datasets.create(IMAGE, dataset.conversations_from_rows(QA), repeats,
                                    owner=owner).dataset_id


def start(services, owner: str, dataset_id: str) -> dict:
    """A student's Start, as the page does it; a refusal is recorded, not raised."""
    from backend.errors import StudioError

    submitted_at = time.time()
    try:
        snap = services.training.start(dataset_id, json.dumps(OPTIONS), owner=owner)
    except StudioError as error:
        return {"owner": owner, "refused": True, "state": "refused", "error": str(error),
                "submitted_at": submitted_at}
    return {"owner": owner, "run_id": snap["run_id"], "submitted_at": submitted_at,
            "state_at_submit": snap["state"], "queue_position_at_submit": snap["queue_position"]}


def wait_all(jobs, runs: list[dict], deadline: float, sampler: GpuSampler | None) -> bool:
    """Until every run has ended; at the deadline the rest are stopped. True if it came."""
    ids = [r["run_id"] for r in runs if not r.get("refused")]
    while not all(jobs.snapshot(i)["state"] in FINAL_STATES for i in ids):
        if sampler is not None:
            sampler.sample()
        if time.monotonic() > deadline:
            stoppers = [threading.Thread(target=jobs.stop, args=(i, False)) for i in ids]
            for thread in stoppers:
                thread.start()
            for thread in stoppers:
                thread.join()
            return True
        time.sleep(2)
    return False


def disk_figures(run_dir: Path) -> dict:
    """What the app reserved for the run (its estimate) and what its folder holds now."""
    from backend.training.disk import folder_bytes
    from backend.training.disk_budget import ESTIMATE_FILE

    estimate = run_dir / ESTIMATE_FILE
    return {"reserved_bytes": int(estimate.read_text()) if estimate.is_file() else None,
            "folder_bytes": folder_bytes(run_dir) if run_dir.exists() else None}


def finished(services, run: dict) -> dict:
    """The run's record once it has ended: the registry's times and device, its log's
    figures, its disk (reserved, and its folder at the end)."""
    if run.get("refused"):
        return run
    record = services.jobs.registry.get(run["run_id"])
    run_dir = services.jobs.run_dir(run["run_id"])
    log_file = run_dir / "run.log"
    log = log_file.read_text(errors="replace") if log_file.is_file() else ""
    return {**run, **{k: record[k] for k in ("state", "error", "device", "started_at",
                                              "ended_at", "max_iters")},
            **log_stats(log), "oom": bool(OOM.search(log + record["error"])),
            **disk_figures(run_dir)}


def run_alone(services, args, deadline: float, sampler) -> tuple[dict, float | None]:
    """One run with the machine to itself; deleted afterwards through the app, before
    the class is submitted (its disk is the class's)."""
    run = start(services, "solo", build_dataset(services, "solo", args.repeats))
    if run.get("refused"):
        return run, None
    wait_all(services.jobs, [run], deadline, sampler)
    run = finished(services, run)
    shutil.copy(services.jobs.run_dir(run["run_id"]) / "run.log", args.out / "run_alone.log")
    services.jobs.delete(run["run_id"])
    took = run["ended_at"] - run["submitted_at"] if run["state"] == "done" else None
    return run, took


def run_class(services, args, deadline: float, sampler) -> dict:
    owners = student_names(args.students)
    # Each student's dataset first (a class builds theirs while the teacher talks),
    # then every Start in one burst: the scheduler sees the whole class at once.
    datasets = [build_dataset(services, owner, args.repeats) for owner in owners]
    submitted_at = time.time()
    runs = [start(services, owner, dataset_id) for owner, dataset_id in zip(owners, datasets)]
    timed_out = wait_all(services.jobs, runs, deadline, sampler)
    runs = [finished(services, run) for run in runs]
    for run in runs:
        if not run.get("refused"):
            shutil.copy(services.jobs.run_dir(run["run_id"]) / "run.log",
                        args.out / f"run_{run['owner']}.log")
    return {"submitted_at": submitted_at, "runs": runs, "timed_out": timed_out}


def run(args) -> dict:
    from backend.training.disk import estimate_run_bytes, folder_bytes
    from backend.xtuner.recipes import LESSON, checkpoint_contents

    started = time.monotonic()
    deadline = started + args.budget_s
    if args.tiny:
        from bench.suite.flows import use_tiny_sizes
        use_tiny_sizes()
    device = "cpu" if args.tiny else "cuda"
    # Seeded: the models a warm machine's earlier call built are the same ones.
    paths, build_s = build_all(args.work / "models", CORPUS, device, reuse=True)
    sampler = None if args.tiny else GpuSampler()
    services = make_services(args, paths, ["solo", *student_names(args.students)])
    # One checkpoint (OPTIONS), the lean final one, as the app reserves (each run's
    # own reservation is recorded with it: disk_figures).
    per_run = estimate_run_bytes(paths.llm, 1, checkpoint_contents(LESSON))
    meta = {"device": device, "gpus": args.gpus, "students": args.students,
            "repeats": args.repeats, "runs_per_device": args.runs_per_device,
            "budget_s": args.budget_s, "options": OPTIONS, "build_s": round(build_s, 1),
            "llm_gb": round(folder_bytes(paths.llm) / 1e9, 2),
            "disk_free_gb": round(shutil.disk_usage(args.work).free / 1e9, 1),
            "disk_estimate_gb_per_run": round(per_run / 1e9, 1), "command": " ".join(sys.argv)}
    print(f"disk: {meta['disk_free_gb']} GB free; the app reserves about "
          f"{meta['disk_estimate_gb_per_run']} GB a run, "
          f"{args.students * per_run / 1e9:.0f} GB for the class", flush=True)
    alone, alone_s, klass = None, args.alone_s, None
    try:
        if alone_s is None and not args.no_alone:
            alone, alone_s = run_alone(services, args, deadline, sampler)
            print(f"one run alone: {alone['state']} in {alone_s or 0:.1f} s", flush=True)
        # A class started with no budget left would only be stopped again at once.
        if not args.alone_only and time.monotonic() < deadline - 60:
            klass = run_class(services, args, deadline, sampler)
    finally:
        services.close()
    return {"meta": meta, "alone": alone, "alone_s": alone_s and round(alone_s, 1),
            "class": klass, "timed_out": bool(klass and klass["timed_out"]),
            "gpu_peak_used_gib": sampler.gib() if sampler else {},
            "seconds": round(time.monotonic() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/studio-class"))
    parser.add_argument("--students", type=int, default=8, help="runs, one per student")
    parser.add_argument("--gpus", default="", help="the app's --gpus (default: every GPU)")
    parser.add_argument("--runs-per-device", default="auto")
    parser.add_argument("--repeats", type=int, default=5, help="6 conversations x REPEATS")
    alone = parser.add_mutually_exclusive_group()
    alone.add_argument("--alone-s", type=float, default=None,
                       help="one run alone took this long (an earlier call's --alone-only)")
    alone.add_argument("--alone-only", action="store_true",
                       help="time one run alone and stop (its figure for --alone-s)")
    alone.add_argument("--no-alone", action="store_true", help="no run alone (no ratio)")
    parser.add_argument("--label", default="", help="names the results file (default from N, GPUs)")
    parser.add_argument("--budget-s", type=float, default=540,
                        help="then every run still going is stopped and the results written")
    parser.add_argument("--tiny", action="store_true", help="CPU, toy sizes")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = run(args)
    label = args.label or f"n{args.students}_gpus{args.gpus.replace(',', '-') or 'all'}"
    if result["class"] is None:  # --alone-only, or the run alone took the whole budget
        (args.out / "alone.json").write_text(json.dumps(result, indent=2, default=str))
        print(f"pass --alone-s {result['alone_s']} to the class's call" if args.alone_only
              else "no time was left for the class after the run alone")
        return 0 if args.alone_only and result["alone_s"] else 1
    (args.out / f"class_pack_{label}.json").write_text(json.dumps(result, indent=2, default=str))
    summary = summarize(result)
    (args.out / f"summary_{label}.json").write_text(json.dumps(summary, indent=2))
    print("\n".join(summary_lines(summary)))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
