"""JobManager: owns the training/conversion processes of every run.

A run is a list of steps (argument lists) executed one after another in the
run's folder, each in its own process group, output appended to the run's
log file, never to a pipe only a browser would drain. State goes to the
SQLite registry so a restarted server knows what happened. The UI only ever
reads ``snapshot()``; closing a browser changes nothing here.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from backend.errors import StudioError
from backend.runs import process as processes, progress
from backend.runs.checkpoints import latest_checkpoint
from backend.runs.fair_queue import FairQueue
from backend.runs.recovery import RestartRecovery
from backend.runs.registry import ACTIVE_STATES, RunRegistry
from backend.runs.snapshot import run_row, run_snapshot
from backend.runs.spec import LATEST_CHECKPOINT, JobSpec, Step  # noqa: F401  (re-exported)
from backend.runs.spec import clear_stop_request, request_stop, resume_from_latest
from backend.training.disk_budget import explain_failure

log = logging.getLogger(__name__)


class JobError(StudioError, RuntimeError):
    """A request the manager refuses (full queue, unknown run, wrong state)."""


class JobManager:
    """One job at a time (per device); the rest wait, round-robin over owners."""

    def __init__(self, registry: RunRegistry, max_queue: int = 8,
                 stop_grace_s: float = 5.0, save_grace_s: float = 180.0,
                 before_job: Callable[[JobSpec], None] | None = None,
                 after_job: Callable[[JobSpec, str], None] | None = None):
        self.registry = registry
        self.max_queue = max_queue
        self.stop_grace_s = stop_grace_s
        # How long a stopped trainer may take to save and exit (4-bit: 6.5 GB on a GPU).
        self.save_grace_s = save_grace_s
        self.before_job = before_job
        self.after_job = after_job
        self._queue = FairQueue()  # round-robin over owners
        self._specs: dict[str, JobSpec] = {}
        # (spec, its process, the registry state of the step it runs)
        self._current: tuple[JobSpec, subprocess.Popen | None, str] | None = None
        # The run _dispatch gave the device to, until the worker takes it up.
        self._handed: JobSpec | None = None
        self._stop_requested: set[str] = set()
        # Runs whose process outlived a server restart: they still hold the
        # device, so nothing new starts until they end.
        self._orphans: set[str] = set()
        self._cond = threading.Condition()
        self._closing = False
        self._worker = threading.Thread(target=self._work, name="job-manager", daemon=True)
        self._worker.start()

    # ---- requests ---------------------------------------------------------
    def submit(self, spec: JobSpec) -> dict:
        with self._cond:
            if len(self._queue) >= self.max_queue:
                raise JobError(f"The queue is full ({self.max_queue} runs waiting); "
                               "try again when a run has finished.")
            spec.run_dir.mkdir(parents=True, exist_ok=True)
            spec.save()
            self.registry.add(spec.run_id, spec.dataset_id, spec.owner, spec.options,
                              spec.max_iters)
            self._specs[spec.run_id] = spec
            self.enqueue(spec)
        return self.snapshot(spec.run_id)

    def stop(self, run_id: str, keep_progress: bool = True) -> dict:
        """Queued: dropped. Training (keep_progress): the trainer saves a
        checkpoint at the end of its current iteration and exits
        (SaveOnStopHook), so resume continues from there; it is killed if it
        has not ended after save_grace_s. Any other step, or keep_progress
        False: SIGTERM to its group, SIGKILL after grace. Returns after a
        short wait; a run still saving shows ``stopping``."""
        self._require(run_id)
        with self._cond:
            queued = next((s for s in self._queue if s.run_id == run_id), None)
            if queued is not None:
                self._queue.remove(queued)
                self.registry.update(run_id, state="stopped", ended_at=time.time())
                return self.snapshot(run_id)
            current = self._current
            if current is None or current[0].run_id != run_id:
                return self.snapshot(run_id)
            self._stop_requested.add(run_id)
            spec, process, step_state = current
        if process is not None:
            if keep_progress and step_state == "running":
                self._ask_to_save_and_stop(spec, process)
            else:
                self._terminate(process)
        # A short wait so a quick stop answers "stopped"; a trainer still
        # starting up or saving answers "stopping", which is what is true.
        with self._cond:
            self._cond.wait_for(lambda: not self._is_current_locked(run_id),
                                timeout=self.stop_grace_s + 5)
        return self.snapshot(run_id)

    def _ask_to_save_and_stop(self, spec: JobSpec, process: subprocess.Popen) -> None:
        try:
            request_stop(spec.train_dir)
        except OSError:
            self._terminate(process)
            return

        def kill_if_still_running():
            if process.poll() is None:
                self._terminate(process)

        timer = threading.Timer(self.save_grace_s, kill_if_still_running)
        timer.daemon = True
        timer.start()

    def resume(self, run_id: str) -> dict:
        """Run a stopped or failed run again from its last checkpoint."""
        self._require(run_id)
        with self._cond:
            # Checked and queued under one lock: of concurrent resumes, one
            # queues the run and the others see it queued.
            record = self._require(run_id)
            if record["state"] not in ("stopped", "failed"):
                raise JobError(f"Only a stopped or failed run can resume (this one is "
                               f"{record['state']}).")
            if len(self._queue) >= self.max_queue:
                raise JobError("The queue is full; try again later.")
            resume_from_latest(self._spec(run_id))
            self.registry.update(run_id, state="queued", error="", ended_at=None)
            self.enqueue(self._specs[run_id])
        return self.snapshot(run_id)

    def delete(self, run_id: str) -> None:
        with self._cond:
            record = self._require(run_id)
            if record["state"] in ACTIVE_STATES or record["state"] == "queued":
                raise JobError("Stop the run before deleting it.")
            self.registry.delete(run_id)  # first: on a full disk it refuses, the run stays
            spec = self._specs.pop(run_id, None)
        if spec is not None:
            shutil.rmtree(spec.run_dir, ignore_errors=True)

    # ---- reading ----------------------------------------------------------
    def snapshot(self, run_id: str) -> dict:
        record = self._require(run_id)
        # Stop was asked and the process is still saving / ending.
        stopping = record["state"] in ACTIVE_STATES and run_id in self._stop_requested
        return run_snapshot(record, self._spec(run_id), self.queue_position(run_id), stopping)

    def queue_position(self, run_id: str) -> int | None:
        """1 = next to start; None when not waiting."""
        with self._cond:
            for position, spec in enumerate(self._queue.ordered(), start=1):
                if spec.run_id == run_id:
                    return position
        return None

    def active_run(self) -> str | None:
        """The run whose process is running now, if any."""
        with self._cond:
            return self._current[0].run_id if self._current else None

    def training_run(self) -> str | None:
        """The run that is training now (not converting), or a trainer that
        outlived a server restart: what holds a GPU's memory for long."""
        with self._cond:
            if self._current and self._current[2] == "running":
                return self._current[0].run_id
            return next(iter(self._orphans), None)

    def list_runs(self) -> list[dict]:
        return [run_row(record, record["state"] in ACTIVE_STATES
                        and record["run_id"] in self._stop_requested)
                for record in self.registry.all()]

    def run_dir(self, run_id: str) -> Path:
        self._require(run_id)
        return self._spec(run_id).run_dir

    def shutdown(self) -> None:
        """Stop the worker (the current process is left to finish or be stopped)."""
        with self._cond:
            self._closing = True
            if self._handed is not None:  # given the device but not begun: still queued
                self.registry.update(self._handed.run_id, state="queued", started_at=None)
                self._queue.appendleft(self._handed)
                self._handed, self._current = None, None
            self._cond.notify_all()

    # ---- the worker -------------------------------------------------------
    def _require(self, run_id: str) -> dict:
        record = self.registry.get(run_id) if isinstance(run_id, str) else None
        if record is None:
            raise JobError(f"Unknown run: {run_id!r}")
        return record

    def _spec(self, run_id: str) -> JobSpec:
        spec = self._specs.get(run_id)
        if spec is None:
            raise JobError(f"Run {run_id} has no job description.")
        return spec

    def _is_current_locked(self, run_id: str) -> bool:
        return self._current is not None and self._current[0].run_id == run_id

    def _dispatch(self) -> None:
        """Under the lock: give the device to the next queued run when it is free.

        Done by whoever frees the device or queues a run, not by the worker
        when it wakes up, so a run's state and queue position never depend
        on thread scheduling: the run being started is "running" at once and
        no longer counts as queued.
        """
        if self._current is not None or self._orphans or not self._queue or self._closing:
            return
        spec = self._queue.take_next()
        self._current = (spec, None, "running")
        self._handed = spec
        self.registry.update(spec.run_id, state="running", started_at=time.time(),
                             error="", ended_at=None)
        self._cond.notify_all()

    # ---- restart recovery (backend/runs/recovery.py) ------------------------
    def reconcile(self, runs_root: Path) -> None:
        """After a restart: nothing stays 'running' without a process."""
        RestartRecovery(self).reconcile(runs_root)

    def adopt(self, spec: JobSpec) -> None:
        """Know a run found on disk (its job.json) again."""
        self._specs[spec.run_id] = spec

    def hold_for_orphan(self, run_id: str) -> None:
        """A step that outlived a restart holds the device until orphan_ended."""
        with self._cond:
            self._orphans.add(run_id)

    def enqueue(self, spec: JobSpec, first: bool = False) -> None:
        """A run waits for the device, or gets it now (``first``: marked queued and
        put before those waiting). The lock is re-entrant: callers may hold it."""
        with self._cond:
            if first:
                self.registry.update(spec.run_id, state="queued")
                self._queue.appendleft(spec)
            else:
                self._queue.append(spec)
            self._dispatch()

    def orphan_ended(self, run_id: str) -> None:
        """A step that outlived a server restart has ended: the device is free."""
        with self._cond:
            self._orphans.discard(run_id)
            self._dispatch()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._handed is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                spec, self._handed = self._handed, None
            try:
                outcome = self._run(spec)
            except Exception as error:  # never let the worker die
                outcome = "failed"
                log.exception("run %s: the job worker caught", spec.run_id)
                try:
                    self.registry.update(spec.run_id, state="failed", ended_at=time.time(),
                                         error=explain_failure(f"Internal error: {error}",
                                                               spec.run_dir, error))
                except Exception:  # the registry itself fails: logged, the worker goes on
                    log.exception("run %s: its failure could not be recorded", spec.run_id)
            finally:
                with self._cond:
                    self._current = None
                    self._stop_requested.discard(spec.run_id)
                    try:
                        self._dispatch()
                    except Exception:
                        log.exception("the next run could not be started")
            if self.after_job is not None:
                try:
                    self.after_job(spec, outcome)
                except Exception:
                    pass

    def _run(self, spec: JobSpec) -> str:
        if self.before_job is not None:
            self.before_job(spec)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        with open(spec.log_file, "ab") as log:
            for step in spec.steps:
                if spec.run_id in self._stop_requested:
                    break
                argv = self._resolve(step.argv, spec)
                if argv is None:
                    self._finish(spec, "failed", f"Step {step.name}: no checkpoint was saved.")
                    return "failed"
                clear_stop_request(spec.train_dir)
                log.write(f"\n==> [{time.strftime('%H:%M:%S')}] {step.name}: "
                          f"{' '.join(argv)}\n".encode())
                log.flush()
                process = processes.start(argv, cwd=spec.run_dir, env=env, log=log)
                with self._cond:
                    self._current = (spec, process, step.state)
                self.registry.update(spec.run_id, state=step.state, pid=process.pid,
                                     step=step.name)
                if spec.run_id in self._stop_requested:
                    self._terminate(process)
                code = process.wait()
                processes.kill_group(process.pid)
                if spec.run_id in self._stop_requested:
                    break
                if code != 0:
                    self._finish(spec, "failed", explain_failure(
                        progress.step_failure(step.name, code, spec.log_file), spec.run_dir))
                    return "failed"
        if spec.run_id in self._stop_requested:
            self._finish(spec, "stopped", "")
            return "stopped"
        self._finish(spec, "done", "")
        return "done"

    def _resolve(self, argv: list[str], spec: JobSpec) -> list[str] | None:
        if LATEST_CHECKPOINT not in argv:
            return list(argv)
        checkpoint = latest_checkpoint(spec.train_dir)
        if checkpoint is None:
            return None
        return [str(checkpoint) if a == LATEST_CHECKPOINT else a for a in argv]

    def _finish(self, spec: JobSpec, state: str, error: str) -> None:
        losses = progress.read_losses(spec.train_dir)
        self.registry.update(spec.run_id, state=state, error=error, ended_at=time.time(),
                             pid=None, final_loss=losses[-1][1] if losses else None)

    def _terminate(self, process: subprocess.Popen) -> None:
        """SIGTERM the whole process group, SIGKILL it after the grace period."""
        processes.stop(process, self.stop_grace_s)
