"""xtuner processes started ahead of their runs' steps
(backend/xtuner/trainer_side/warm_trainer.py).

Every run's train step, and each conversion, starts a Python that imports
torch, transformers, peft, mmengine and xtuner before its first line of work:
8-20 s that are the same for every run of a server. So the server keeps, for
each environment a step has been started with, one process that has done
those imports and waits on its stdin for a job. The next such step with
exactly that environment (the same python, every variable equal: the
placement's GPUs included; the thread counts of PER_JOB go with the job) is
handed to it instead of a new process; anything else starts cold, as before. Each waiting process serves one job and then is
that step's process: own process group, output appended to the run's log, its
exit code the step's.

A waiting process ends when its stdin closes: ``close()``, or this server
exiting however it exits (the pipe closes with it), so none outlives the server
idle (one still importing ends when its imports are done).
"""
from __future__ import annotations

import json
import logging
import subprocess
import threading
from pathlib import Path

from backend.runs import process as processes

log = logging.getLogger(__name__)

# The steps of a run that a waiting process can take: xtuner's train script
# and its converter (what backend/xtuner/config.py's commands run).
MODULES = ("xtuner.tools.train", "xtuner.tools.model_converters.pth_to_hf")
# What those scripts and a LLaVA config import (a script itself is run afresh
# as __main__).
PRELOAD = ("torch", "transformers", "peft", "mmengine.runner", "xtuner.registry",
           "xtuner.model", "xtuner.dataset", "xtuner.dataset.map_fns", "xtuner.engine",
           *MODULES, "backend.xtuner.trainer_side.hooks",
           "backend.xtuner.trainer_side.lean_step")


# Variables a waiting process takes with its job instead of from its start
# (warm_trainer.py applies them): a run's share of the cores is decided when
# it starts (backend/runs/thread_share.py), and need not find a process of
# its own.
PER_JOB = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _key(python: str, env: dict) -> tuple:
    return python, tuple(sorted((k, v) for k, v in env.items() if k not in PER_JOB))


class WarmTrainers:
    """At most one waiting process per (python, environment)."""

    def __init__(self, log_file: Path, modules: tuple[str, ...] = MODULES,
                 preload: tuple[str, ...] = PRELOAD):
        self.log_file = log_file
        self.modules = modules
        self.preload = preload
        self._waiting: dict[tuple, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._closed = False

    def serves(self, argv: list[str]) -> bool:
        """``python -m MODULE ...`` with one of our modules: what a waiting process can run."""
        return len(argv) >= 3 and argv[1] == "-m" and argv[2] in self.modules

    def prepare(self, python: str, env: dict) -> None:
        """Start a waiting process for this environment unless one waits already."""
        key = _key(python, env)
        with self._lock:
            if self._closed:
                return
            waiting = self._waiting.get(key)
            if waiting is not None and waiting.poll() is None:
                return
            try:
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_file, "ab") as out:
                    self._waiting[key] = processes.start(
                        [python, "-m", "backend.xtuner.trainer_side.warm_trainer",
                         *self.preload],
                        cwd=None, env=env, log=out, stdin=subprocess.PIPE)
            except OSError as error:  # a full disk, no such python: cold starts it is
                log.warning("no warm trainer: %s", error)

    def take(self, argv: list[str], *, cwd: Path, env: dict,
             log_file: Path) -> subprocess.Popen | None:
        """Hand this step to the process waiting for its environment: the
        process now running it, or None (start it cold)."""
        if not self.serves(argv):
            return None
        with self._lock:
            waiting = self._waiting.pop(_key(argv[0], env), None)
        if waiting is None or waiting.poll() is not None:
            return None
        job = {"module": argv[2], "args": argv[3:], "cwd": str(cwd), "log": str(log_file),
               "env": {k: env[k] for k in PER_JOB if k in env}}
        try:
            waiting.stdin.write((json.dumps(job) + "\n").encode())
            waiting.stdin.close()
        except OSError:  # it died between poll() and now
            processes.kill_group(waiting.pid)
            return None
        return waiting

    def waiting_processes(self) -> list[subprocess.Popen]:
        """The processes made ready and not yet handed a job (alive or not)."""
        with self._lock:
            return list(self._waiting.values())

    def waiting_count(self) -> int:
        return sum(1 for p in self.waiting_processes() if p.poll() is None)

    def close(self) -> None:
        """Let every waiting process go (it exits at the end of its stdin)."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = list(self._waiting.values()), {}
        for process in waiting:
            try:
                process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                processes.kill_group(process.pid)
                process.wait()
