"""Registry writes that cannot fail the job worker.

On a full disk SQLite refuses every write ("database or disk is full"). A run's
state change must not be lost for that, nor kill the thread that made it: it
is kept in memory, shown by every read at once, and written when a later call
finds room again (every read and write tries the pending ones first).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Callable

from backend.training.disk_budget import is_disk_full
from backend.runs.registry import _COLUMNS, STATES, RunRegistry

log = logging.getLogger(__name__)


class BufferedRegistry:
    """A RunRegistry whose ``update`` never raises for a storage failure.

    ``add`` and ``delete`` still raise (a new run or a delete is refused, the
    caller says why): for a full disk as the error ``disk_full`` gives.
    """

    def __init__(self, registry: RunRegistry,
                 disk_full: Callable[[BaseException], Exception | None] | None = None):
        self.inner = registry
        # error -> the "disk is full" error to raise instead, or None (DiskBudget.full_now).
        self.disk_full = disk_full
        self._pending: dict[str, dict] = {}  # run id -> columns not yet written
        # The last rows read: on a full disk SQLite cannot even open for reading
        # ("disk I/O error": its shared-memory file), and status must still answer.
        self._known: dict[str, dict] = {}
        self._lock = threading.Lock()
        try:
            self.all()
        except (sqlite3.Error, OSError):
            pass

    def __getattr__(self, name):  # db_file, restore, ... as the registry has them
        return getattr(self.inner, name)

    # ---- writes -----------------------------------------------------------
    def update(self, run_id: str, **values) -> None:
        unknown = set(values) - set(_COLUMNS)
        if unknown or ("state" in values and values["state"] not in STATES):
            raise ValueError(f"bad registry update {values}")  # a bug, not the disk
        with self._lock:
            self._pending.setdefault(run_id, {}).update(values)
            self._flush_locked()

    def add(self, run_id: str, *args, **kwargs) -> None:
        self._storage_call(self.inner.add, run_id, *args, **kwargs)
        self.get(run_id)  # known from now on

    def delete(self, run_id: str) -> None:
        self._storage_call(self.inner.delete, run_id)
        with self._lock:
            self._pending.pop(run_id, None)
            self._known.pop(run_id, None)

    def flush(self) -> int:
        """Try the pending writes now; how many runs still wait for one."""
        with self._lock:
            self._flush_locked()
            return len(self._pending)

    def _flush_locked(self) -> None:
        for run_id in list(self._pending):
            values = self._pending[run_id]
            try:
                self.inner.update(run_id, **values)
            except (sqlite3.Error, OSError) as error:
                log.warning("run registry: the write for %s waits (%s): %s", run_id,
                            "disk full" if is_disk_full(error) else "storage error", error)
                return
            del self._pending[run_id]

    def _storage_call(self, fn, *args, **kwargs):
        self.flush()
        try:
            return fn(*args, **kwargs)
        except (sqlite3.Error, OSError) as error:
            full = self.disk_full(error) if self.disk_full is not None else None
            if full is not None:
                raise full from error
            raise

    # ---- reads: the registry, with what still waits to be written -----------
    def get(self, run_id: str) -> dict | None:
        self.flush()
        try:
            record = self.inner.get(run_id)
        except (sqlite3.Error, OSError) as error:
            log.warning("run registry: read from memory (%s)", error)
            record = self._known.get(run_id)
        with self._lock:
            if record is None:
                return None
            self._known[run_id] = record
            return {**record, **self._pending.get(run_id, {})}

    def all(self) -> list[dict]:
        self.flush()
        try:
            records = self.inner.all()
        except (sqlite3.Error, OSError) as error:
            log.warning("run registry: listed from memory (%s)", error)
            records = sorted(self._known.values(), key=lambda r: r["created_at"])
        with self._lock:
            self._known = {record["run_id"]: record for record in records}
            return [{**record, **self._pending.get(record["run_id"], {})}
                    for record in records]
