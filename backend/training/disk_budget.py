"""The work dir's disk, budgeted: reservations for accepted runs, "full", "low".

A run's disk estimate (backend/disk.py) is reserved from the moment it is
accepted (queued) until it ends, so two Starts back to back cannot both pass
the free-space check. What a reserved run has already written counts against
its reservation: the part still outstanding is the estimate minus its folder.
"""
from __future__ import annotations

import errno
import shutil
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from backend.training.disk import DiskSpaceError, folder_bytes

# Below this the disk counts as full: datasets and runs are refused.
FULL_BELOW_BYTES = 64 * 1024 * 1024
# Below this the page warns (before the disk is full).
LOW_BELOW_BYTES = 2 * 1024 ** 3
RESERVING_STATES = ("queued", "running", "converting")
ESTIMATE_FILE = "disk_estimate.txt"  # in the run folder: its reservation, in bytes
MB = 1024 * 1024


class DiskFullError(DiskSpaceError):
    """The disk holding WORK_DIR is (nearly) full; the UI says it in the page's language."""
    message_key = "err_disk_full"

    def __init__(self, free_bytes: int):
        self.message_fields = {"mb": free_bytes // MB}
        super().__init__(f"The disk holding WORK_DIR is full: {free_bytes // MB} MB free. "
                         "Delete old runs or datasets, then try again.")


class DiskReservedError(DiskSpaceError):
    """Free now, but promised to runs already accepted."""
    message_key = "err_disk_reserved"

    def __init__(self, needed: int, free: int, reserved: int):
        self.message_fields = {"needed_gb": f"{needed / 1e9:.1f}", "free_gb": f"{free / 1e9:.1f}",
                               "reserved_gb": f"{reserved / 1e9:.1f}"}
        super().__init__(
            f"Not enough free disk: this run needs about {needed / 1e9:.1f} GB; "
            f"{free / 1e9:.1f} GB are free, of which {reserved / 1e9:.1f} GB are reserved "
            "for runs already queued or running. Delete old runs or lower save_total_limit.")


def is_disk_full(error: BaseException) -> bool:
    """An error that means "no space": ENOSPC/EDQUOT, or SQLite's "disk is full"."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(error, sqlite3.Error) and "full" in str(error).lower():
        return True
    cause = error.__cause__ or error.__context__
    return cause is not None and cause is not error and is_disk_full(cause)


class DiskBudget:
    """The work dir's free space, less what accepted runs may still write."""

    def __init__(self, root: Path, state_of: Callable[[str], str | None] = lambda _id: None,
                 full_below: int = FULL_BELOW_BYTES, low_below: int = LOW_BELOW_BYTES):
        self.root = root
        # run id -> its registry state (None: unknown / deleted).
        self.state_of = state_of
        self.full_below = full_below
        self.low_below = low_below
        self._lock = threading.Lock()
        # run id -> (its folder, its estimate). Kept after a run ends: a
        # resumed run counts again (its folder already holds what it wrote).
        self._runs: dict[str, tuple[Path, int]] = {}

    def free(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free

    def full_now(self, error: BaseException | None = None) -> DiskFullError | None:
        """The "disk is full" error when it is (or when ``error`` says so), else None."""
        free = self.free()
        if free < self.full_below or (error is not None and is_disk_full(error)):
            return DiskFullError(free)
        return None

    def check_writable(self) -> None:
        """Refuse new datasets and runs while the disk is full."""
        free = self.free()
        if free < self.full_below:
            raise DiskFullError(free)

    def is_low(self) -> int | None:
        """Free bytes when the disk is getting full (the page warns), else None."""
        free = self.free()
        return free if free < self.low_below else None

    def outstanding(self, except_run: str | None = None) -> int:
        """Bytes promised to queued and running runs and not yet written."""
        total = 0
        for run_id, (run_dir, estimate) in list(self._runs.items()):
            if run_id == except_run or self.state_of(run_id) not in RESERVING_STATES:
                continue
            written = folder_bytes(run_dir) if run_dir.exists() else 0
            total += max(estimate - written, 0)
        return total

    def reserved_by(self, run_ids) -> int:
        """Outstanding bytes of these runs (a user's quota counts them)."""
        wanted = set(run_ids)
        return sum(self._outstanding_of(run_id) for run_id in list(self._runs)
                   if run_id in wanted and self.state_of(run_id) in RESERVING_STATES)

    def _outstanding_of(self, run_id: str) -> int:
        run_dir, estimate = self._runs[run_id]
        written = folder_bytes(run_dir) if run_dir.exists() else 0
        return max(estimate - written, 0)

    @contextmanager
    def reserve(self, run_id: str, run_dir: Path, needed: int) -> Iterator[None]:
        """Check ``needed`` bytes against free space less the others'
        reservations, then hold them for the run. If the body raises (a refused
        request), the reservation and whatever the body wrote in ``run_dir``
        are removed: a refused request leaves nothing behind."""
        with self._lock:
            self.check_writable()
            free = self.free()
            reserved = self.outstanding(except_run=run_id)
            if free - reserved < needed:
                raise DiskReservedError(needed, free, reserved)
            self._runs[run_id] = (run_dir, needed)
        try:
            yield
        except BaseException:
            with self._lock:
                self._runs.pop(run_id, None)
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        try:  # so a restarted server reserves it again (load_reservations)
            (run_dir / ESTIMATE_FILE).write_text(str(needed))
        except OSError:
            pass

    def load_reservations(self, runs_root: Path) -> None:
        """After a restart: the estimates of the runs accepted before it."""
        for file in runs_root.glob(f"*/{ESTIMATE_FILE}"):
            try:
                self._runs[file.parent.name] = (file.parent, int(file.read_text()))
            except (OSError, ValueError):
                continue



def explain_failure(message: str, path: Path, error: BaseException | None = None) -> str:
    """A failed step's error; when the disk is full, the disk sentence first
    (the step's own words often say only "exited with code 1")."""
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return message
    if free < FULL_BELOW_BYTES or (error is not None and is_disk_full(error)):
        return f"{DiskFullError(free)} ({message})"
    return message


def registry_state(registry) -> Callable[[str], str | None]:
    """run id -> its state in the run registry (None when unknown)."""
    def state_of(run_id: str) -> str | None:
        record = registry.get(run_id)
        return record["state"] if record else None
    return state_of
