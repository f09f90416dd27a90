"""JobManager: owns the training/conversion processes of every run.

A run is a list of steps (argument lists) executed one after another in the
run's folder, each in its own process group, output appended to the run's
log file, never to a pipe only a browser would drain. Several runs go at
once, as many as the device pool admits (backend/runs/slots.py); each
started run has a Slot and its own thread (backend/runs/step_runner.py).
State goes to the SQLite registry so a restarted server knows what happened.
The UI only ever reads ``snapshot()``; closing a browser changes nothing here.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from backend.errors import StudioError
from backend.runs.executor import Executor, Handle, LocalExecutor
from backend.runs.fair_queue import FairQueue
from backend.runs.recovery import RestartRecovery
from backend.runs.registry import ACTIVE_STATES, RunRegistry
from backend.runs.slots import DevicePool, GpuMemory, Placement
from backend.runs.snapshot import run_row, run_snapshot
from backend.runs.spec import LATEST_CHECKPOINT, JobSpec, Step, resume_from_latest  # noqa: F401
from backend.runs.running import Slot, SlotTable
from backend.runs.step_runner import free_port, run_slot, stop_in_stages

log = logging.getLogger(__name__)


class JobError(StudioError, RuntimeError):
    """A request the manager refuses (full queue, unknown run, wrong state)."""


class JobManager:
    """As many runs at once as the device pool admits; the rest wait, round-robin over owners."""

    def __init__(self, registry: RunRegistry, max_queue: int = 8,
                 stop_grace_s: float = 5.0, save_grace_s: float = 180.0,
                 before_job: Callable[[JobSpec, Placement], None] | None = None,
                 after_job: Callable[[JobSpec, str], None] | None = None,
                 pool: DevicePool | None = None,
                 memory: Callable[[], GpuMemory] | None = None,
                 executor: Executor | None = None, tick_s: float = 2.0,
                 thread_share=None):  # a ThreadShare (backend/runs/thread_share.py)
        self.registry = registry
        self.max_queue = max_queue
        self.stop_grace_s = stop_grace_s
        # How long a stopped trainer may take to save and exit (4-bit: 6.5 GB on a GPU).
        self.save_grace_s = save_grace_s
        self.before_job = before_job
        self.after_job = after_job
        self.pool = pool or DevicePool.for_cpu()
        # A GPU pool's measured free memory (None: slots alone decide).
        self.memory = memory
        self.executor = executor or LocalExecutor()
        self._queue = FairQueue()  # round-robin over owners
        self._specs: dict[str, JobSpec] = {}
        # Every run holding devices: started here, or outlived a restart (orphan).
        self._slots = SlotTable(self.pool.devices, thread_share)
        self._stop_requested: set[str] = set()
        self._cond = threading.Condition()
        self._closing = threading.Event()
        # Runs waiting on memory start when runs already placed have taken
        # theirs, which no event announces: look again every tick_s.
        self.tick_s = tick_s
        threading.Thread(target=self._tick, name="job-manager-tick", daemon=True).start()

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
            slot = self._slots.get(run_id)
            if slot is None:
                return self.snapshot(run_id)
            self._stop_requested.add(run_id)
            handle, step_state, orphan = slot.handle, slot.step_state, slot.orphan
            train_dir = slot.spec.train_dir if slot.spec else None
        if handle is not None:
            stop_in_stages(self.executor, handle, train_dir, keep_progress and
                           step_state == "running", self._terminate, self.save_grace_s,
                           leave_request=orphan)
        # A short wait so a quick stop answers "stopped"; a trainer still
        # starting up or saving answers "stopping", which is what is true.
        with self._cond:
            self._cond.wait_for(lambda: run_id not in self._slots,
                                timeout=self.stop_grace_s + 5)
        return self.snapshot(run_id)

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
            self.registry.update(run_id, state="queued", error="", ended_at=None, device="")
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
        position = self.queue_position(run_id)
        if position is None and (cluster := self.cluster_wait(run_id)) is not None:
            position = cluster.position
        return run_snapshot(record, self._spec(run_id), position, stopping)

    def queue_position(self, run_id: str) -> int | None:
        """1 = next to start; None when not waiting here (a cluster's queue: cluster_wait)."""
        with self._cond:
            for position, spec in enumerate(self._queue.ordered(), start=1):
                if spec.run_id == run_id:
                    return position
        return None

    def active_runs(self) -> dict[str, str]:
        """Every run whose process runs now (orphans included): run id -> its devices."""
        with self._cond:
            return self._slots.devices_of()

    def training_runs(self) -> dict[str, str]:
        """The runs training now (not converting), trainers that outlived a
        restart included: what holds GPU memory for long. Run id -> devices."""
        with self._cond:
            return self._slots.devices_of(training_only=True)

    def active_run(self) -> str | None:  # the first placed, if any
        return next(iter(self.active_runs()), None)

    def training_run(self) -> str | None:  # the first placed, if any
        return next(iter(self.training_runs()), None)

    def starting_gpus(self) -> set[int]:
        """GPUs with a run placed that has not taken its memory yet."""
        with self._cond:
            return self._slots.starting_gpus()

    def devices_in_use(self) -> set[str]:
        """Devices some run holds now (one from before devices were recorded: all)."""
        with self._cond:
            return self._slots.devices_in_use()

    def list_runs(self) -> list[dict]:
        return [run_row(record, record["state"] in ACTIVE_STATES
                        and record["run_id"] in self._stop_requested)
                for record in self.registry.all()]

    def run_dir(self, run_id: str) -> Path:
        self._require(run_id)
        return self._spec(run_id).run_dir

    def shutdown(self) -> None:
        """Start nothing more (running processes are left to finish or be stopped)."""
        with self._cond:
            self._closing.set()
            self._cond.notify_all()

    # ---- placing runs on devices --------------------------------------------
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

    def _dispatch(self) -> None:
        """Under the lock: start every queued run the pool admits now.

        Done by whoever frees a device or queues a run (and by the tick), not
        by the run's thread when it wakes up, so a run's state and queue
        position never depend on thread scheduling: a run being started is
        "running" on its device at once and no longer counts as queued.
        """
        if self._closing.is_set() or not self._queue:
            return
        waiting = {spec.run_id: spec for spec in self._queue.ordered()}
        for spec in list(waiting.values()):
            why = self.pool.never_fits(spec.want())
            if why is not None:
                self._queue.remove(spec)
                del waiting[spec.run_id]
                self.registry.update(spec.run_id, state="failed", error=why, ended_at=time.time())
        holding = self._slots.holdings()
        if not waiting or not self.pool.has_room(holding):
            return
        memory = self._measure()
        for placement in self.pool.place([s.want() for s in waiting.values()], holding, memory):
            self._start(waiting[placement.run_id], placement)

    def _measure(self) -> GpuMemory | None:
        if self.memory is None or not self.pool.gpus:
            return None
        try:
            return self.memory()
        except Exception:  # nvidia-smi failing must not stop the queue: start-up figures
            log.exception("free GPU memory could not be measured")
            return GpuMemory(free={})

    def _start(self, spec: JobSpec, placement: Placement) -> None:
        self._queue.take(spec)
        slot = Slot(spec.run_id, spec.owner, placement, time.time(), spec=spec,
                    memory_bytes=spec.memory_bytes)
        self._slots.add(slot)
        self.registry.update(spec.run_id, state="running", started_at=slot.placed_at,
                             error="", ended_at=None, device=placement.label)
        threading.Thread(target=run_slot, args=(self, slot), name="job-manager",
                         daemon=True).start()

    def _tick(self) -> None:
        while not self._closing.wait(self.tick_s):
            with self._cond:
                self._slots.check_started_training()
                try:
                    self._dispatch()
                except Exception:
                    log.exception("the job manager's tick failed")

    # ---- restart recovery (backend/runs/recovery.py) ------------------------
    def reconcile(self, runs_root: Path) -> None:
        """After a restart: nothing stays 'running' without a process."""
        RestartRecovery(self).reconcile(runs_root)

    def adopt(self, spec: JobSpec) -> None:
        """Know a run found on disk (its job.json) again."""
        self._specs[spec.run_id] = spec

    def hold_for_orphan(self, run_id: str, handle: Handle | None = None, device: str = "",
                        state: str = "running", started_at: float | None = None) -> None:
        """A step that outlived a restart holds its recorded device ("": all) until slot_ended."""
        with self._cond:
            self._slots.add(Slot.left_behind(run_id, self._specs.get(run_id), handle, device,
                                             state, started_at or time.time()))

    def enqueue(self, spec: JobSpec, first: bool = False) -> None:
        """A run waits for a device, or gets one now (``first``: marked queued and
        put before those waiting). The lock is re-entrant: callers may hold it."""
        with self._cond:
            if first:
                self.registry.update(spec.run_id, state="queued")
                self._queue.appendleft(spec)
            else:
                self._queue.append(spec)
            self._dispatch()

    # ---- what a run's thread asks (backend/runs/step_runner.py) ---------------
    def stop_was_requested(self, run_id: str) -> bool:
        return run_id in self._stop_requested

    def reserve_port(self, slot: Slot) -> None:
        """A torchrun port for ``slot`` that no other running run was given."""
        with self._cond:
            slot.port = free_port(self._slots.ports())

    def step_started(self, slot: Slot, handle: Handle, step: Step) -> None:
        """A step's process or job exists (a job the cluster holds back: queued)."""
        with self._cond:
            slot.handle, slot.step_state = handle, step.state
            slot.check_started_training()
        state = "queued" if self.executor.waiting(handle) is not None else step.state
        self.registry.update(slot.run_id, state=state, pid=handle.pid, step=step.name,
                             job_id=handle.job_id)
        if self.stop_was_requested(slot.run_id):
            self._terminate(handle)

    def step_running(self, slot: Slot, step: Step, where: str) -> None:
        """The cluster started a step's job on ``where`` (its node)."""
        self.registry.update(slot.run_id, state=step.state, device=where or slot.placement.label)

    def cluster_wait(self, run_id: str):
        """Where a run's step waits in a cluster's queue (ClusterWait), or None."""
        with self._cond:
            handle = (slot := self._slots.get(run_id)) and slot.handle
        return self.executor.waiting(handle) if handle else None

    def requeue_if_closing(self, slot: Slot) -> bool:
        """A run placed as the server stopped waits for the next server instead."""
        with self._cond:
            if not self._closing.is_set():
                return False
            self._slots.pop(slot.run_id)
            self.registry.update(slot.run_id, state="queued", started_at=None, device="")
            self._queue.appendleft(slot.spec)
            return True

    def slot_ended(self, run_id: str) -> None:
        """A run's process, or a step that outlived a restart, has ended: its
        devices are free for the next."""
        with self._cond:
            self._slots.pop(run_id)
            self._stop_requested.discard(run_id)
            try:
                self._dispatch()
            except Exception:
                log.exception("the next run could not be started")
            self._cond.notify_all()

    def _terminate(self, handle: Handle) -> None:
        """SIGTERM the whole process group, SIGKILL it after the grace period."""
        self.executor.terminate(handle, self.stop_grace_s)
