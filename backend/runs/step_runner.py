"""Running a started run's steps (in the run's own thread), and stopping them.

Each step: its placeholders resolved (the newest checkpoint, a free port for
torchrun), the placement's GPUs in its environment (not the ones chosen at
start-up: a run may land on any GPU of the pool), its process started and
waited for through the executor, a failure explained; an out-of-memory on a
GPU names the runs that shared it.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import threading
from pathlib import Path
from typing import Callable, Collection

from backend.errors import StudioError
from backend.runs import progress
from backend.runs.checkpoints import latest_checkpoint
from backend.runs.executor import Executor, Handle
from backend.runs.running import Slot
from backend.runs.slots import Placement
from backend.runs.spec import FREE_PORT, LATEST_CHECKPOINT, JobSpec, clear_stop_request
from backend.training.disk_budget import explain_failure
from backend.training.gpu import Launch
from backend.xtuner.env import thread_env

log = logging.getLogger(__name__)


def placement_env(placement: Placement, port: int | None) -> dict:
    """The environment that puts a step on its placement's GPUs (none on the CPU)."""
    if not placement.gpu_indices:
        return {}
    return Launch(placement.gpu_indices, master_port=port or 29500).env()


def step_env(spec_env: dict, placement: Placement, port: int | None,
             threads: int | None = None) -> dict:
    """Everything a step's process gets in its environment (one place: a
    warm trainer made ready ahead of a run must get exactly the same, but
    for its threads, which it takes with the job). ``threads``: the run's
    share of the cores (backend/runs/thread_share.py); None keeps the spec's."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **spec_env, **placement_env(placement, port),
            **(thread_env(threads) if threads else {})}


def prepare_devices(executor: Executor, devices: Collection[str], python: str,
                    spec_env: dict) -> None:
    """Have a process ready on each device for the next run's steps there (the
    executor's to do or not: backend/runs/warm_trainers.py)."""
    for device in devices:
        executor.prepare(python, step_env(spec_env, Placement("", (device,)), None))


def free_port(taken: Collection[int]) -> int:
    """A TCP port nothing listens on now and no other run of ours was given."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in taken:
            return port
    raise OSError("no free TCP port for torchrun")


def resolve(argv: list[str], spec: JobSpec, port: int | None) -> list[str] | None:
    """The step's arguments with its placeholders filled; None when it needs a
    checkpoint and none was saved."""
    resolved = []
    for arg in argv:
        if arg == LATEST_CHECKPOINT:
            checkpoint = latest_checkpoint(spec.train_dir)
            if checkpoint is None:
                return None
            arg = str(checkpoint)
        elif FREE_PORT in arg:
            arg = arg.replace(FREE_PORT, str(port))
        resolved.append(arg)
    return resolved


def run_slot(manager, slot: Slot) -> None:
    """A placed run's thread: its steps; a failure recorded whatever happens,
    its devices freed at the end. ``manager``: the JobManager."""
    spec = slot.spec
    if manager.requeue_if_closing(slot):
        return
    outcome = "failed"
    try:
        if manager.before_job is not None:
            manager.before_job(spec, slot.placement)
        outcome = run_steps(manager, slot)
    except Exception as error:  # never let a failure leave the run "running"
        log.exception("run %s: the job thread caught", spec.run_id)
        # A StudioError (Slurm refusing a job) says what happened in its own words.
        why = str(error) if isinstance(error, StudioError) else f"Internal error: {error}"
        try:
            manager.registry.update(spec.run_id, state="failed", ended_at=time.time(),
                                    error=explain_failure(why, spec.run_dir, error))
        except Exception:  # the registry itself fails: logged, the devices are freed
            log.exception("run %s: its failure could not be recorded", spec.run_id)
    finally:
        manager.slot_ended(spec.run_id)
    if manager.after_job is not None:
        try:
            manager.after_job(spec, outcome)
        except Exception:
            pass


def run_steps(manager, slot: Slot) -> str:
    """The run's steps in order; its outcome ("done", "failed", "stopped")."""
    spec = slot.spec
    if len(slot.placement.devices) > 1:
        manager.reserve_port(slot)
    env = step_env(spec.env, slot.placement, slot.port, slot.threads)
    for step in spec.steps:
        if manager.stop_was_requested(spec.run_id):
            break
        argv = resolve(step.argv, spec, slot.port)
        if argv is None:
            finish(manager.registry, spec, "failed", f"Step {step.name}: no checkpoint was saved.")
            return "failed"
        clear_stop_request(spec.train_dir)
        with open(spec.log_file, "ab") as log:
            log.write(f"\n==> [{time.strftime('%H:%M:%S')}] {step.name}: "
                      f"{' '.join(argv)}\n".encode())
        handle = manager.executor.start(argv, cwd=spec.run_dir, env=env, log_file=spec.log_file,
                                        name=f"studio-{spec.run_id}-{step.name}",
                                        tasks=step.tasks)
        manager.step_started(slot, handle, step)
        code = manager.executor.wait(
            handle, on_running=lambda where, step=step: manager.step_running(slot, step, where))
        if manager.stop_was_requested(spec.run_id):
            break
        if code != 0:
            why = progress.step_failure(step.name, code, spec.log_file,
                                        gpus=slot.placement.gpu_indices,
                                        shared_with=sorted(slot.shared_with))
            because = manager.executor.ended_because(handle)
            why = f"{because}. {why}" if because else why
            finish(manager.registry, spec, "failed", explain_failure(why, spec.run_dir))
            return "failed"
    outcome = "stopped" if manager.stop_was_requested(spec.run_id) else "done"
    finish(manager.registry, spec, outcome, "")
    return outcome


def finish(registry, spec: JobSpec, state: str, error: str) -> None:
    losses = progress.read_losses(spec.train_dir)
    registry.update(spec.run_id, state=state, error=error, ended_at=time.time(),
                    pid=None, final_loss=losses[-1][1] if losses else None)


def stop_in_stages(executor: Executor, handle: Handle, train_dir: Path | None, save: bool,
                   terminate: Callable[[Handle], None], save_grace_s: float,
                   leave_request: bool = False) -> None:
    """``save``: ask the trainer to save and exit (the stop request file),
    terminated if it has not ended after ``save_grace_s``; else at once.
    ``leave_request``: write the file even then (a step that outlived a
    restart: recovery.py records its end as "stopped" by it)."""
    if (save or leave_request) and train_dir is not None:
        try:
            executor.request_stop(handle, train_dir)
        except OSError:
            terminate(handle)
            return
    if not save or train_dir is None:
        terminate(handle)
        return

    def kill_if_still_running():
        if executor.running(handle):
            terminate(handle)

    timer = threading.Timer(save_grace_s, kill_if_still_running)
    timer.daemon = True
    timer.start()
