"""Structured progress from mmengine's files, apart from the raw log."""
from __future__ import annotations

import json
import re
import signal
from collections import deque
from pathlib import Path
from typing import Sequence

# mmengine's text log: "Iter(train) [  12/600]  lr: ... loss: 1.234"
_ITER_LINE = re.compile(r"Iter\(train\)\s*\[\s*(\d+)\s*/\s*(\d+)\]")
_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Interrupt)\b.*)$")
# What torch writes when an allocation fails on the GPU.
_CUDA_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError")


def find_scalars(train_dir: Path) -> list[Path]:
    """mmengine writes <work-dir>/<timestamp>/vis_data/scalars.json per launch
    (a resumed run adds a new timestamp folder)."""
    if not train_dir.is_dir():
        return []
    return sorted(train_dir.glob("*/vis_data/scalars.json"))


def logged_since(train_dir: Path, since: float) -> bool:
    """Has a launch that started at ``since`` logged an iteration yet?"""
    for scalars in find_scalars(train_dir):
        try:
            stat = scalars.stat()
        except OSError:
            continue
        if stat.st_size > 0 and stat.st_mtime >= since:
            return True
    return False


def read_scalars(train_dir: Path) -> dict[int, dict]:
    """mmengine's record of every logged iteration, across resumed launches
    (a resumed launch's records replace those of the iterations it redid)."""
    records: dict[int, dict] = {}
    for scalars in find_scalars(train_dir):
        with open(scalars, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line mmengine is still writing
                if "loss" in record and "iter" in record:
                    records[int(record["iter"])] = record
    return dict(sorted(records.items()))


def losses_of(records: dict[int, dict]) -> list[tuple[int, float]]:
    """(iteration, loss) from read_scalars' records."""
    return [(it, float(record["loss"])) for it, record in records.items()]


def read_losses(train_dir: Path) -> list[tuple[int, float]]:
    """(iteration, loss) for every logged iteration, across resumed launches."""
    return losses_of(read_scalars(train_dir))


def seconds_per_iteration(records: dict[int, dict], last: int = 20) -> float | None:
    """Median of mmengine's own ``time`` over the last iterations: the pace of
    training itself, without model loading or evaluation passes."""
    times = sorted(float(r["time"]) for r in list(records.values())[-last:] if "time" in r)
    return times[len(times) // 2] if times else None


def tail(log_file: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of the log (reads it once, keeps only those)."""
    if not log_file.is_file():
        return ""
    with open(log_file, encoding="utf-8", errors="replace") as handle:
        return "".join(deque(handle, maxlen=lines))


def last_iteration(log_text: str) -> tuple[int, int] | None:
    """(iteration, total) from the newest ``Iter(train) [i/n]`` line."""
    matches = _ITER_LINE.findall(log_text)
    return (int(matches[-1][0]), int(matches[-1][1])) if matches else None


def error_from_log(log_file: Path) -> str:
    """The last exception line of a failed run's log, or its last lines."""
    text = tail(log_file, 200)
    errors = [m.group(1) for line in text.splitlines() if (m := _ERROR_LINE.match(line))]
    if errors:
        return errors[-1][:2000]
    last = [line for line in text.splitlines() if line.strip()][-3:]
    return "\n".join(last)[:2000] or "The process ended with an error and no log."


# What a shell or launcher reports for a child killed by a signal: 128 + its number.
_SHELL_SIGNAL_BASE = 128


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def step_failure(step_name: str, returncode: int, log_file: Path,
                 gpus: Sequence[int] = (), shared_with: Sequence[str] = ()) -> str:
    """Why a step failed, for the run's error. A negative returncode is the
    signal that killed it (Popen's convention); SIGKILL is what the kernel's
    out-of-memory killer sends, and then the log's last lines say nothing
    about it, so they are left out. ``gpus``: where it ran; ``shared_with``:
    the runs placed on those GPUs while it was there (named when the GPU ran
    out of memory: the scheduler's estimates left too little room)."""
    if returncode > 0 and gpus and _CUDA_OOM.search(tail(log_file, 200)):
        where = ", ".join(f"cuda:{i}" for i in gpus)
        beside = (f"it shared {where} with {', '.join(shared_with)}" if shared_with
                  else f"no other run of this server was on {where}")
        return (f"{step_name} ran out of GPU memory (CUDA out of memory) on {where}; {beside}. "
                f"Resume it when fewer runs train, or lower batch_size or max_length: "
                f"{error_from_log(log_file)}")
    if returncode < 0:
        name = _signal_name(-returncode)
        if -returncode == signal.SIGKILL:
            return (f"{step_name} was killed by {name} (signal {-returncode}). The machine "
                    "most likely ran out of memory (the kernel's out-of-memory killer ends "
                    "a process this way): try a smaller batch size or max_length, or wait "
                    "until other runs have finished.")
        return f"{step_name} was ended by {name} (signal {-returncode}): {error_from_log(log_file)}"
    if returncode == _SHELL_SIGNAL_BASE + signal.SIGKILL:
        # torchrun or a shell between us and the trainer: its child got SIGKILL.
        return (f"{step_name} exited with code {returncode} (a process it started was killed "
                "by SIGKILL, most likely because the machine ran out of memory): "
                f"{error_from_log(log_file)}")
    return f"{step_name} exited with code {returncode}: {error_from_log(log_file)}"
