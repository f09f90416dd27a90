"""Timed subprocesses for the benchmark: argument lists, own process group,
output to a log file, every chunk stamped with the time it arrived (so time
to first iteration / first prompt is read off our clock, not off mmengine's
one-second log stamps)."""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from backend.runs import process as processes

ITER_LINE = re.compile(r"Iter\(train\)\s*\[\s*(\d+)/(\d+)\].*?\btime: ([\d.]+)(?:.*?memory: (\d+))?")


@dataclass
class Result:
    argv: list[str]
    rc: int
    start: float
    end: float
    chunks: list[tuple[float, int]] = field(default_factory=list)  # (time, text length so far)
    text: str = ""

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def time_of(self, needle: str, occurrence: int = 1) -> float | None:
        """When the n-th occurrence of ``needle`` had fully arrived."""
        index = -1
        for _ in range(occurrence):
            index = self.text.find(needle, index + 1)
            if index < 0:
                return None
        stop = index + len(needle)
        for stamp, length in self.chunks:
            if length >= stop:
                return stamp
        return self.end

    def lines_with_times(self) -> list[tuple[float, str]]:
        out, pos = [], 0
        for line in self.text.splitlines(keepends=True):
            pos += len(line)
            out.append((self._stamp_at(pos), line.rstrip("\n")))
        return out

    def _stamp_at(self, pos: int) -> float:
        for stamp, length in self.chunks:
            if length >= pos:
                return stamp
        return self.end


def run(argv: list[str], env: dict, log_path: Path, stdin_text: str | None = None,
        timeout_s: float = 600.0, cwd: Path | None = None) -> Result:
    """Run to completion (or kill the group at the timeout), logging everything."""
    start = time.monotonic()
    # The app's runner, but into a pipe: each chunk is stamped as it arrives.
    proc = processes.start(argv, cwd=cwd, env=env, log=subprocess.PIPE,
                           stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL)
    if stdin_text is not None:
        # The pipe buffers it; input() reads it line by line when it asks.
        threading.Thread(target=_feed, args=(proc, stdin_text), daemon=True).start()
    return _collect(proc, proc.stdout.fileno(), argv, start, log_path, timeout_s)


def run_warm(warm, argv: list[str], env: dict, log_path: Path, timeout_s: float = 600.0,
             cwd: Path | None = None) -> Result:
    """run(), handed to the process ``warm`` (backend/runs/warm_trainers.py)
    holds ready for ``env``, as the app's LocalExecutor does; it writes into a
    FIFO read here, so its output is stamped as run()'s is. Started cold when
    none waits (the log says which)."""
    fifo = log_path.with_suffix(".fifo")
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    start = time.monotonic()
    proc = warm.take(argv, cwd=cwd or Path.cwd(), env=env, log_file=fifo)
    if proc is None:
        fifo.unlink()
        with open(log_path, "ab") as log:
            log.write(b"\n(no warm process was ready: started cold)\n")
        return run(argv, env, log_path, timeout_s=timeout_s, cwd=cwd)
    # Opening blocks until the process opens its end (after its imports, if
    # still at them); one that dies first must not leave the bench blocked here.
    threading.Thread(target=_open_writer_once_ended, args=(proc, fifo), daemon=True).start()
    fd = os.open(fifo, os.O_RDONLY)
    try:
        return _collect(proc, fd, argv, start, log_path, timeout_s)
    finally:
        os.close(fd)
        fifo.unlink(missing_ok=True)


def _open_writer_once_ended(proc: subprocess.Popen, fifo: Path) -> None:
    proc.wait()
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # read to the end already, and removed
        pass


def _collect(proc: subprocess.Popen, fd: int, argv: list[str], start: float,
             log_path: Path, timeout_s: float) -> Result:
    result = Result(argv, -1, start, start)
    parts: list[str] = []
    length = 0
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(argv)}\n".encode())
        deadline = start + timeout_s
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            log.write(data)
            log.flush()
            text = data.decode("utf-8", errors="replace")
            parts.append(text)
            length += len(text)
            result.chunks.append((time.monotonic(), length))
            if time.monotonic() > deadline:
                processes.kill_group(proc.pid)
                break
    result.rc = proc.wait()
    result.end = time.monotonic()
    result.text = "".join(parts)
    return result


def _feed(proc: subprocess.Popen, text: str) -> None:
    try:
        proc.stdin.write(text.encode())
        proc.stdin.close()
    except OSError:
        pass


def train_stats(result: Result) -> dict:
    """s/iter (median of mmengine's per-window 'time:'), peak memory
    (mmengine's 'memory:' = torch max_memory_allocated, MiB) and the time
    from launch to the end of the first iteration."""
    rows = []
    for stamp, line in result.lines_with_times():
        match = ITER_LINE.search(line)
        if match:
            rows.append((stamp, int(match[1]), int(match[2]), float(match[3]),
                         int(match[4] or 0)))
    if not rows:
        return {"iters": 0}
    times = sorted(r[3] for r in rows[1:] or rows)
    s_iter = times[len(times) // 2]
    first_stamp, first_iter = rows[0][0], rows[0][1]
    last_stamp = rows[-1][0]
    return {
        "iters": rows[-1][1], "max_iters": rows[-1][2], "s_per_iter": s_iter,
        "peak_mib": max(r[4] for r in rows),
        # Logged every k iterations: subtract the k-1 iterations before the first line.
        "first_iter_s": first_stamp - result.start - (first_iter - 1) * s_iter,
        "loop_s": last_stamp - first_stamp + first_iter * s_iter,
        "after_loop_s": result.end - last_stamp,
        "last_loss": _last_loss(result.text),
        "start_phases_s": start_phases(result),
    }


# What a trainer does before its first step, each ending at a line it logs.
START_PHASES = (("imports_and_config", "System environment:"),
                ("llm_and_clip_built", "Load pretrained weight"),
                ("runner_ready", "Checkpoints will be saved"))


def start_phases(result: Result) -> dict:
    """Seconds from launch to the end of each start-up phase (None where its
    line never came): where the time before the first step goes."""
    out = {}
    for name, needle in START_PHASES:
        stamp = result.time_of(needle)
        out[name] = None if stamp is None else round(stamp - result.start, 2)
    return out


def _last_loss(text: str) -> float | None:
    found = re.findall(r"\bloss: ([\d.]+)", text)
    return float(found[-1]) if found else None
