"""Where a run's step processes run: one small interface, the local machine first.

JobManager talks only to an executor: start a step's process (a handle with
an id that outlives the server), wait for its exit code, ask it to save and
stop (the stop request file the trainer's SaveOnStopHook reads), terminate
it, and attach again to a step started before a restart. A cluster
scheduler can do each of these as well (Slurm: sbatch -> a job id, sacct ->
the exit code, the same file on a shared file system, scancel:
backend/runs/slurm/executor.py), so nothing here assumes the process is a
child of this server beyond LocalExecutor. A cluster's step may wait in the
cluster's own queue first: ``waiting`` says where, ``wait`` tells
``on_running`` where it runs once it starts.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from backend.runs import process as processes
from backend.runs.spec import alive, request_stop
from backend.runs.warm_trainers import WarmTrainers


@dataclass
class Handle:
    """A started step. ``id`` is what the registry keeps to find it again."""

    id: str
    pid: int | None = None
    process: subprocess.Popen | None = None  # None: attached after a restart
    job_id: str = ""  # a cluster scheduler's job (pid None then)


class Executor(Protocol):
    cluster: bool  # steps are a cluster scheduler's jobs (handles are job ids)

    def start(self, argv: list[str], *, cwd: Path, env: dict, log_file: Path,
              name: str = "studio", tasks: int = 1) -> Handle: ...

    def attach(self, handle_id: str) -> Handle: ...

    def wait(self, handle: Handle, on_running: Callable[[str], None] | None = None
             ) -> int | None: ...

    def running(self, handle: Handle) -> bool: ...

    def request_stop(self, handle: Handle, train_dir: Path) -> None: ...

    def terminate(self, handle: Handle, grace_s: float) -> None: ...

    def waiting(self, handle: Handle): ...  # a cluster's queue place, or None

    def ended_because(self, handle: Handle) -> str: ...

    def prepare(self, python: str, env: dict) -> None: ...  # ahead of an xtuner step

    def close(self) -> None: ...


class LocalExecutor:
    """Processes on this machine, through backend/runs/process.py (own process
    group, output appended to the run's log, stopped in stages). With
    ``warm``, an xtuner step (train, convert) goes to a process that has done
    its imports already when one waits with the step's environment
    (backend/runs/warm_trainers.py), and another is made ready for the next."""

    cluster = False
    poll_s = 1.0  # how often an attached step (not our child) is looked at

    def __init__(self, warm: WarmTrainers | None = None):
        self.warm = warm

    def start(self, argv: list[str], *, cwd: Path, env: dict, log_file: Path,
              name: str = "studio", tasks: int = 1) -> Handle:
        """``tasks`` is a cluster's: a local step starts its own processes (torchrun)."""
        process = None
        if self.warm is not None and self.warm.serves(argv):
            process = self.warm.take(argv, cwd=cwd, env=env, log_file=log_file)
            self.warm.prepare(argv[0], env)
        if process is None:
            with open(log_file, "ab") as log:
                process = processes.start(argv, cwd=cwd, env=env, log=log)
        return Handle(str(process.pid), process.pid, process)

    def prepare(self, python: str, env: dict) -> None:
        """Have a process ready for an xtuner step with this environment (when warm)."""
        if self.warm is not None:
            self.warm.prepare(python, env)

    def close(self) -> None:
        """Let waiting trainers go; running steps are not touched."""
        if self.warm is not None:
            self.warm.close()

    def attach(self, handle_id: str) -> Handle:
        return Handle(handle_id, int(handle_id))

    def wait(self, handle: Handle, on_running: Callable[[str], None] | None = None
             ) -> int | None:
        """The exit code once it has ended; None for an attached step (not our
        child: its code is gone). What is left of its group is killed. A local
        step runs from its start: ``on_running`` is not needed."""
        if handle.process is not None:
            code = handle.process.wait()
        else:
            while alive(handle.pid):
                time.sleep(self.poll_s)
            code = None
        processes.kill_group(handle.pid)
        return code

    def running(self, handle: Handle) -> bool:
        if handle.process is not None:
            return handle.process.poll() is None
        return alive(handle.pid)

    def request_stop(self, handle: Handle, train_dir: Path) -> None:
        """Ask the trainer to save at the end of its iteration and exit (OSError: could not ask)."""
        request_stop(train_dir)

    def terminate(self, handle: Handle, grace_s: float) -> None:
        """SIGTERM the whole group, SIGKILL it after ``grace_s``."""
        if handle.process is not None:
            processes.stop(handle.process, grace_s)
        else:
            processes.stop_group(handle.pid, grace_s, lambda: alive(handle.pid))

    def waiting(self, handle: Handle) -> None:
        """A local step never waits in another scheduler's queue."""
        return None

    def ended_because(self, handle: Handle) -> str:
        return ""
