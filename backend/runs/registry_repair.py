"""A damaged run registry loses nothing: it is moved aside and rebuilt.

studio.db only indexes what the run folders hold (job.json, run.log,
mmengine's scalars and checkpoints, the converted model). When it cannot be
opened or checked at start-up (cut short, overwritten, empty, a folder in its
place, its table gone), it is renamed ``studio.db.damaged-<time>`` (kept for
a look, with its -wal/-shm files, which must never be replayed onto the new
one) and a new registry is filled from the run folders. The page says so
(``RegistryRepair.describe``). A registry that is merely old is migrated in
place (run_registry._migrate).
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from backend.runs import progress
from backend.runs.checkpoints import latest_checkpoint
from backend.runs.spec import JOB_FILE, JobSpec, stop_requested
from backend.runs.registry import CORE_COLUMNS, RunRegistry

REBUILT_ERROR = ("The run registry was rebuilt from the run folders and this run's last "
                 "state was not among them; resume it to continue from its last checkpoint.")
CONVERT_ERROR = ("The run registry was rebuilt from the run folders: training had finished "
                 "but its conversion (pth_to_hf) had not; resume it to convert.")
# What pth_to_hf leaves in hf_finetuned/ once the run's last step is done.
_CONVERTED = ("llm_adapter", "projector")


@dataclass(frozen=True)
class RegistryRepair:
    reason: str          # why the old registry could not be used
    moved_to: Path | None  # where it went (None: there was none)
    runs: int            # rows rebuilt from run folders

    def describe(self) -> str:
        where = f" It was moved to {self.moved_to.name}" if self.moved_to else ""
        return (f"The run registry could not be used ({self.reason}).{where}; "
                f"{self.runs} runs were recovered from their folders.")


def registry_problem(db_file: Path) -> str | None:
    """Why db_file cannot serve as the registry, or None (also when it does not exist)."""
    if not db_file.exists() and not db_file.is_symlink():
        return None
    if not db_file.is_file():
        return "studio.db is not a file"
    if db_file.stat().st_size == 0:
        return "studio.db is empty"
    try:
        # Read-only: checking must not checkpoint a -wal into a damaged file,
        # nor delete it, before it is moved aside with the file.
        with closing(sqlite3.connect(f"{db_file.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=30)) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall()]
            if problems != ["ok"]:
                return "integrity check: " + "; ".join(problems[:3])
            columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            if not columns:
                return "it has no runs table"
            missing = [name for name in CORE_COLUMNS if name not in columns]
            if missing:
                return f"its runs table lacks {', '.join(missing)}"
            db.execute("SELECT * FROM runs").fetchall()  # every row reads back
    except sqlite3.Error as error:
        return f"SQLite: {error}"
    return None


def open_registry(db_file: Path, runs_root: Path,
                  clock=time.time) -> tuple[RunRegistry, RegistryRepair | None]:
    """The registry, repaired when needed; the repair (for the page) or None."""
    problem = registry_problem(db_file)
    existed = db_file.exists() or db_file.is_symlink()
    if problem is None and (existed or not _run_folders(runs_root)):
        return RunRegistry(db_file), None
    moved_to = _move_aside(db_file, clock()) if problem else None
    registry = RunRegistry(db_file)
    runs = 0
    for run_dir in _run_folders(runs_root):
        record = record_from_folder(run_dir)
        if record is not None:
            registry.restore(record)
            runs += 1
    return registry, RegistryRepair(problem or "studio.db was missing", moved_to, runs)


def _run_folders(runs_root: Path) -> list[Path]:
    if not runs_root.is_dir():
        return []
    return sorted(p.parent for p in runs_root.glob(f"*/{JOB_FILE}"))


def _move_aside(db_file: Path, now: float) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    target = db_file.with_name(f"{db_file.name}.damaged-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = db_file.with_name(f"{db_file.name}.damaged-{stamp}-{number}")
    db_file.rename(target)
    for suffix in ("-wal", "-shm"):
        companion = db_file.with_name(db_file.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    return target


def record_from_folder(run_dir: Path) -> dict | None:
    """A registry row from what a run folder holds (None: no readable job.json)."""
    try:
        spec = JobSpec.load(run_dir)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if spec.run_id != run_dir.name:
        return None  # a copied folder: its job.json describes another run
    losses = progress.read_losses(spec.train_dir)
    checkpoint = latest_checkpoint(spec.train_dir)
    trained = checkpoint is not None and _iteration(checkpoint) >= spec.max_iters
    converted = all((run_dir / "hf_finetuned" / name).is_dir() for name in _CONVERTED)
    if trained and converted:
        state, step, error = "done", "", ""
    elif trained:
        state, step, error = "failed", "convert_finetuned", CONVERT_ERROR
    elif stop_requested(spec.train_dir):
        state, step, error = "stopped", "", ""
    else:
        state, step, error = "failed", "", REBUILT_ERROR
    log_time = _mtime(spec.log_file)
    created = min(t for t in (_mtime(run_dir / "commands.txt"), _mtime(run_dir / "data"),
                              _mtime(run_dir / JOB_FILE)) if t is not None)
    return {"run_id": spec.run_id, "dataset_id": spec.dataset_id, "owner": spec.owner,
            "state": state, "options": spec.options, "max_iters": spec.max_iters,
            "created_at": created, "started_at": created if log_time else None,
            "ended_at": log_time, "pid": None,
            "final_loss": losses[-1][1] if losses else None, "step": step, "error": error}


def _iteration(checkpoint: Path) -> int:
    try:
        return int(checkpoint.stem.split("_", 1)[1])
    except (IndexError, ValueError):
        return -1


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
