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
            if state in ACTIVE_STATES:
                if alive(record["pid"]):
                    handle = self.manager.hold_for_orphan(
                        run_id, record["pid"], record["device"], state, record["started_at"])
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

    def _watch_orphan(self, spec: JobSpec, handle, step_name: str) -> None:
        """Re-attach to a step that outlived a server restart.

        It is not our child (no exit code), so wait until it ends; if it was
        training and left the final checkpoint, queue the remaining steps
        (conversion), else record what it left behind as a failure.
        """
        self.manager.executor.wait(handle)
        try:
            self._record_orphan_end(spec, step_name)
        finally:
            self.manager.slot_ended(spec.run_id)

    def _record_orphan_end(self, spec: JobSpec, step_name: str) -> None:
        if stop_requested(spec.train_dir):
            # Stopped before the restart; the trainer saved where it stopped.
            self.registry.update(spec.run_id, state="stopped", ended_at=time.time())
            return
        names = [step.name for step in spec.steps]
        final = latest_checkpoint(spec.train_dir)
        finished = final is not None and (iteration_of(final) or 0) >= spec.max_iters
        index = names.index(step_name) if step_name in names else -1
        if index == 0 and finished:
            rest = JobSpec(**{**spec.__dict__, "steps": spec.steps[1:]})
            # Its conversion goes before the runs that waited for it.
            self.manager.enqueue(rest, first=True)
            return
        self.registry.update(spec.run_id, state="failed", ended_at=time.time(),
                             error="The server restarted during this run; it ended "
                                   f"with checkpoint {final.name if final else 'none'}. "
                                   "Resume it to continue.")
