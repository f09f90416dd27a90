"""A trainer process started before its run, its imports done while nobody waits.

``python -m backend.xtuner.trainer_side.warm_trainer MODULE...`` imports the
given modules (xtuner's train script and what it pulls in: torch,
transformers, peft, mmengine; 8-20 s of every run's start), then waits for
one job, a JSON line on stdin: ``{"module": ..., "args": [...], "cwd": ...,
"log": ..., "env": {...}}``. From then on it is that run's process, exactly as
``python -m MODULE ARGS`` started in ``cwd`` would be: output appended to the
run's log, the module run as ``__main__``, its exit code this process's.

End of stdin instead of a job (the server let it go, or is gone): it exits.
A module that fails to import here is not fatal: the job imports it again and
its log shows the failure, as a cold start's would. The server only hands a
job to a process started with that job's own environment
(backend/runs/warm_trainers.py), so nothing read from the environment at
import time differs from a cold start; but for the thread counts the job
brings (its "env"), which set torch's pool as they would have at its import.
"""
from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
import time
import traceback

# The line that says the imports are done (the bench waits for it in the log).
READY = "ready:"


def preload(modules: list[str]) -> float:
    """Import ``modules``; the seconds since this process started (our
    sitecustomize has imported much before this module runs). Failures are
    printed, not raised."""
    started = time.monotonic()
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - the job's own import reports it
            traceback.print_exc()
    return process_age_s() or time.monotonic() - started


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/stat") as stat:
            # Fields after the command name; the 22nd field (start time) is the 20th here.
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            now_s = float(uptime.read().split()[0])
        return now_s - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _redirect_output(log_path: str) -> None:
    """fds 1 and 2 -> the run's log (appended); stdin -> /dev/null, as a cold start's."""
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def take_job_env(values: dict) -> None:
    """The job's own variables: in the environment (what it starts inherits
    them) and, for the thread count, in torch's pool, sized at its import."""
    os.environ.update(values)
    torch = sys.modules.get("torch")
    if torch is not None and values.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(values["OMP_NUM_THREADS"]))


def run_job(job: dict, imported_s: float) -> None:
    _redirect_output(job["log"])
    take_job_env(job.get("env", {}))
    os.chdir(job["cwd"])
    # ``python -m`` puts the working directory first on sys.path.
    sys.path[0] = job["cwd"]
    sys.argv = [job["module"], *job["args"]]
    # Imported above as a dependency; run as __main__ it must be executed
    # afresh (runpy warns of a module found in sys.modules otherwise).
    sys.modules.pop(job["module"], None)
    print(f"[studio] warm start: {job['module']} runs in a process started ahead of "
          f"it (its imports took {imported_s:.1f} s)", flush=True)
    runpy.run_module(job["module"], run_name="__main__", alter_sys=True)


def main(modules: list[str]) -> int:
    imported_s = preload(modules)
    print(f"{READY} {len(modules)} modules imported, {imported_s:.1f} s after start", flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    run_job(json.loads(line), imported_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
