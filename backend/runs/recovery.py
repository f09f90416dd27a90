"""What JobManager does after a server restart (a collaborator of JobManager).

Nothing stays "running" without a process: a run whose trainer died with the
server is marked failed (resumable); one whose trainer outlived the server is
watched until it ends and holds the device the registry recorded for it
meanwhile (every device when none was recorded: a server from before
devices were); queued runs are queued again.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from backend.runs.checkpoints import iteration_of, latest_checkpoint
from backend.runs.spec import JOB_FILE, JobSpec, alive, stop_requested
from backend.runs.registry import ACTIVE_STATES
from backend.runs.step_runner import finish


class RestartRecovery:
    """Works through JobManager's public methods: registry, adopt,
    hold_for_orphan, executor, enqueue and slot_ended."""

    def __init__(self, manager):
        self.manager = manager
        self.registry = manager.registry

    def reconcile(self, runs_root: Path) -> None:
        """After a restart: nothing stays 'running' without a process."""
        for record in self.registry.all():
            run_id, state = record["run_id"], record["state"]
            run_dir = runs_root / run_id
            if not (run_dir / JOB_FILE).is_file():
                self.registry.update(run_id, state="failed" if state != "done" else state,
                                     error=record["error"] or "Run folder missing.")
                continue
            spec = JobSpec.load(run_dir)
            self.manager.adopt(spec)
            # A cluster job (record["job_id"]) may still wait in the cluster's queue.
            handed_over = state in ACTIVE_STATES or (state == "queued" and record["job_id"])
            if handed_over:
                handle = self._step_left(record)
                if handle is not None:
                    self.manager.hold_for_orphan(run_id, handle, record["device"], state,
                                                 record["started_at"])
                    threading.Thread(target=self._watch_orphan,
                                     args=(spec, handle, record["step"]),
                                     daemon=True).start()
                else:
                    self.registry.update(
                        run_id, state="failed", ended_at=time.time(),
                        error="The server stopped while this run was active; "
                              "resume it from its last checkpoint.")
            elif state == "queued":
                self.manager.enqueue(spec)

    def _step_left(self, record: dict):
        """The handle of the step a record says was running, when that step
        may have outlived the server: a live process here, or a cluster job
        (ended or not: its exit code is still there to read). None otherwise."""
        executor = self.manager.executor
        if record["job_id"]:
            return executor.attach(record["job_id"]) if executor.cluster else None
        if alive(record["pid"]) and not executor.cluster:
            return executor.attach(str(record["pid"]))
        return None

    def _watch_orphan(self, spec: JobSpec, handle, step_name: str) -> None:
        """Re-attach to a step that outlived a server restart.

        A local one is not our child (no exit code): wait until it ends; if it
        was training and left the final checkpoint, queue the remaining steps
        (conversion), else record what it left behind as a failure. A cluster
        job's exit code is known, and it may still be waiting to start.
        """
        state = next((step.state for step in spec.steps if step.name == step_name), "running")
        code = self.manager.executor.wait(handle, on_running=lambda where: self.registry.update(
            spec.run_id, state=state, device=where))
        try:
            self._record_orphan_end(spec, step_name, code, handle)
        finally:
            self.manager.slot_ended(spec.run_id)

    def _record_orphan_end(self, spec: JobSpec, step_name: str, code: int | None,
                           handle) -> None:
        if stop_requested(spec.train_dir):
            # Stopped before the restart; the trainer saved where it stopped.
            self.registry.update(spec.run_id, state="stopped", ended_at=time.time())
            return
        names = [step.name for step in spec.steps]
        index = names.index(step_name) if step_name in names else -1
        final = latest_checkpoint(spec.train_dir)
        finished = final is not None and (iteration_of(final) or 0) >= spec.max_iters
        if index >= 0 and (code == 0 or (code is None and index == 0 and finished)):
            rest = spec.steps[index + 1:]
            if rest:
                # Its next steps go before the runs that waited for it.
                self.manager.enqueue(JobSpec(**{**spec.__dict__, "steps": rest}), first=True)
            else:
                finish(self.registry, spec, "done", "")
            return
        because = self.manager.executor.ended_because(handle)
        ended = f"ended with exit code {code}" if code is not None else "ended"
        self.registry.update(spec.run_id, state="failed", ended_at=time.time(),
                             error=(f"{because}. " if because else "")
                             + f"The server restarted during this run; its {step_name} step "
                               f"{ended}, with checkpoint {final.name if final else 'none'}. "
                               "Resume it to continue.")
