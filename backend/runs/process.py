"""The one way the app runs a subprocess (trainers, converters, the demo's pretrain).

An argument list, never a shell; its own process group (start_new_session), so
dataloader workers and torchrun children go down with it; output appended to a
log file, never to a pipe that only a browser would drain; stopped in stages:
SIGTERM to the group, SIGKILL after a grace period.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO, Callable


def start(argv: list[str], *, cwd: Path | None, env: dict, log: IO[bytes] | int,
          stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen:
    """Start ``argv`` in a new process group, stdout and stderr into ``log``."""
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=stdin, start_new_session=True)


def kill_group(pgid: int) -> None:
    """SIGKILL what is left of a group (children may outlive the leader)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stop(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the whole group, SIGKILL it after ``grace_s`` (at once when 0)."""
    if grace_s > 0:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    kill_group(process.pid)
    if grace_s <= 0:
        process.wait()


def stop_group(pgid: int, grace_s: float, running: Callable[[], bool]) -> None:
    """stop() for a group whose leader is not our child (it outlived a server
    restart): no exit to wait for, so ``running`` is polled through the grace."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace_s
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    kill_group(pgid)


def run(argv: list[str], *, cwd: Path | None, env: dict, log_path: Path,
        timeout_s: float | None = None, tick: Callable[[], None] | None = None,
        tick_s: float = 1.0, header: str | None = None, append: bool = True,
        grace_s: float = 0.0) -> int | None:
    """Run to the end; the exit code, or None when it ran past ``timeout_s``.

    ``tick`` is called every ``tick_s`` while it runs (progress from its log).
    On a timeout, or when the caller is interrupted, the group is stopped."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    code = None
    with open(log_path, "ab" if append else "wb") as log:
        if header is not None:
            log.write(header.encode())
            log.flush()
        process = start(argv, cwd=cwd, env=env, log=log)
        try:
            while code is None and (deadline is None or time.monotonic() < deadline):
                wait_s = tick_s if deadline is None else min(tick_s, max(0.0, deadline - time.monotonic()))
                try:
                    code = process.wait(timeout=wait_s)
                except subprocess.TimeoutExpired:
                    if tick is not None:
                        tick()
        finally:
            if process.poll() is None:
                stop(process, grace_s)
    return code
