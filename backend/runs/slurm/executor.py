"""SlurmExecutor: a run's steps as batch jobs on a Slurm cluster.

The same six calls as LocalExecutor (backend/runs/executor.py), with a job id
as the handle: ``sbatch`` starts a step (the fixed job script runs the step's
argument list; output appended to the run's log on the shared file system),
``squeue`` says whether it still waits or runs and where, the exit code comes
from the file the job script leaves (or ``scontrol`` while Slurm remembers
the job), Stop writes the same stop-request file the trainer reads locally
and ``scancel`` ends a job that has not ended after the grace.

One ``squeue`` call answers every run: the answers are kept ``cache_s``
seconds, as a class's pages ask for their runs' places every second.
"""
from __future__ import annotations

import logging
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from backend.errors import StudioError
from backend.runs.executor import Handle
from backend.runs.slurm.commands import (
    JOB_SCRIPT, QueueEntry, SlurmOptions, exit_code_of, parse_job_id, parse_scontrol,
    parse_squeue, queue_position, sbatch_argv, squeue_argv, why_it_ended)
from backend.runs.spec import request_stop

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 60


class SlurmError(StudioError, RuntimeError):
    """Slurm refused or did not answer; the message carries its own words."""


@dataclass(frozen=True)
class ClusterWait:
    """A step Slurm has not started yet: its place among the partition's
    pending jobs and when Slurm expects to start it (epoch; None: not said)."""

    position: int | None
    start_at: float | None


def run_command(argv: list[str], env: dict | None = None) -> str:
    """A Slurm command's output; SlurmError with its message when it fails."""
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S, start_new_session=True)
    except FileNotFoundError:
        raise SlurmError(f"{argv[0]} was not found: is this machine a Slurm client?") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {COMMAND_TIMEOUT_S} s.") from None
    if done.returncode != 0:
        words = (done.stderr or done.stdout).strip().splitlines()
        raise SlurmError(f"{argv[0]} failed: {words[-1] if words else f'exit {done.returncode}'}")
    return done.stdout


class SlurmExecutor:
    cluster = True
    poll_s = 1.0
    cache_s = 2.0
    # A job absent from squeue without an exit file: how long to look for the
    # file before asking scontrol (the job script writes it as the job ends).
    exit_file_wait_s = 10.0

    def __init__(self, options: SlurmOptions, state_dir: Path,
                 run: Callable[..., str] = run_command):
        self.options = options
        self.state_dir = state_dir            # on the shared file system (WORK_DIR/slurm)
        self.exit_dir = state_dir / "exits"
        self.exit_dir.mkdir(parents=True, exist_ok=True)
        self.script = state_dir / "studio_step.sh"
        self.script.write_text(JOB_SCRIPT)
        self.script.chmod(0o755)
        self._run = run
        self._lock = threading.Lock()
        self._queue: dict[str, QueueEntry] = {}
        self._queue_read_at = 0.0

    # ---- the six calls ------------------------------------------------------
    def start(self, argv: list[str], *, cwd: Path, env: dict, log_file: Path,
              name: str = "studio", tasks: int = 1) -> Handle:
        command = sbatch_argv(self.options, self.script, argv, job_name=name, cwd=cwd,
                              log_file=log_file, tasks=tasks)
        output = self._run(command, env={**env, "STUDIO_EXIT_DIR": str(self.exit_dir)})
        try:
            job_id = parse_job_id(output)
        except ValueError as error:
            raise SlurmError(str(error)) from None
        self._forget_queue()  # the next look must see the new job
        return Handle(job_id, job_id=job_id)

    def attach(self, handle_id: str) -> Handle:
        return Handle(handle_id, job_id=handle_id)

    def wait(self, handle: Handle, on_running: Callable[[str], None] | None = None
             ) -> int | None:
        """The step's exit code once its job has ended (None: not known).
        ``on_running`` is told the node(s) once, when the job starts."""
        told = False
        while True:
            entry = self.entry(handle)
            if entry is None:
                break
            if not told and entry.state in ("RUNNING", "COMPLETING") and on_running:
                on_running(entry.nodes)
                told = True
            time.sleep(self.poll_s)
        if not told and on_running:  # it ran between two looks: where, Slurm remembers
            node = self._scontrol(handle.job_id).get("NodeList", "")
            if node and node != "(null)":
                on_running(node)
        return self._exit_code(handle.job_id)

    def running(self, handle: Handle) -> bool:
        """Still held by Slurm: pending or running."""
        return self.entry(handle, fresh=True) is not None

    def request_stop(self, handle: Handle, train_dir: Path) -> None:
        """A running trainer saves and exits (the stop-request file, on the
        shared file system); a job still waiting has nothing to save: cancelled."""
        entry = self.entry(handle, fresh=True)
        if entry is not None and entry.pending:
            self.cancel(handle)
            return
        request_stop(train_dir)

    def terminate(self, handle: Handle, grace_s: float) -> None:
        """scancel: Slurm sends SIGTERM, then SIGKILL after its KillWait."""
        self.cancel(handle)

    # ---- what the page shows -------------------------------------------------
    def waiting(self, handle: Handle) -> ClusterWait | None:
        """Where a step waits in Slurm's queue; None once it runs or has ended."""
        with self._lock:
            entries = self._entries()
        entry = entries.get(handle.job_id)
        if entry is None or not entry.pending:
            return None
        return ClusterWait(queue_position(entries, handle.job_id), entry.start)

    def ended_because(self, handle: Handle) -> str:
        """Slurm's reason for a job that did not complete (timeout, node
        failure, cancelled), while Slurm remembers it; "" otherwise."""
        return why_it_ended(self._scontrol(handle.job_id))

    def prepare(self, python: str, env: dict) -> None:
        """A job starts its own Python on a node: nothing to have ready here."""

    def close(self) -> None:
        """Jobs belong to Slurm: nothing held here to let go."""

    # ---- the pieces ----------------------------------------------------------
    def cancel(self, handle: Handle) -> None:
        try:
            self._run(["scancel", handle.job_id])
        except SlurmError:
            log.exception("scancel %s", handle.job_id)
        self._forget_queue()

    def entry(self, handle: Handle, fresh: bool = False) -> QueueEntry | None:
        with self._lock:
            if fresh:
                self._queue_read_at = 0.0
            return self._entries().get(handle.job_id)

    def _entries(self) -> dict[str, QueueEntry]:
        """Under the lock: squeue's answer, at most cache_s old. A failed
        squeue keeps the last answer (a slow controller is not a dead job)."""
        if time.monotonic() - self._queue_read_at >= self.cache_s:
            try:
                self._queue = parse_squeue(self._run(squeue_argv()))
            except SlurmError:
                log.exception("squeue")
            self._queue_read_at = time.monotonic()
        return self._queue

    def _forget_queue(self) -> None:
        with self._lock:
            self._queue_read_at = 0.0

    def _exit_code(self, job_id: str) -> int | None:
        exit_file = self.exit_dir / f"{job_id}.exit"
        deadline = time.monotonic() + self.exit_file_wait_s
        while True:
            try:
                return int(exit_file.read_text().strip())
            except (OSError, ValueError):
                pass
            fields = self._scontrol(job_id)
            state = fields.get("JobState", "")
            if state and state not in ("COMPLETED", "PENDING", "RUNNING", "COMPLETING"):
                return exit_code_of(fields) or 1  # cancelled, timed out, node failed
            if time.monotonic() > deadline:
                return exit_code_of(fields)
            time.sleep(self.poll_s)

    def _scontrol(self, job_id: str) -> dict[str, str]:
        try:
            return parse_scontrol(self._run(["scontrol", "show", "job", "-o", job_id]))
        except SlurmError:  # Slurm no longer remembers it
            return {}
