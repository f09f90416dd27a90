"""The run registry: one SQLite row per run, in the work folder.

SQLite, not an in-memory dict, so a restarted server still knows every run.
Each call opens its own short connection; the database is tiny.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

STATES = ("queued", "running", "converting", "done", "failed", "stopped")
ACTIVE_STATES = ("running", "converting")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    dataset_id  TEXT NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    options     TEXT NOT NULL DEFAULT '{}',
    max_iters   INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    started_at  REAL,
    ended_at    REAL,
    pid         INTEGER,
    final_loss  REAL,
    step        TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    device      TEXT NOT NULL DEFAULT '',
    job_id      TEXT NOT NULL DEFAULT ''
)
"""
_COLUMNS = ("run_id", "dataset_id", "owner", "state", "options", "max_iters",
            "created_at", "started_at", "ended_at", "pid", "final_loss", "step", "error",
            "device", "job_id")
# PRAGMA user_version of the schema above. 0: a registry from before the
# version was kept (it may lack later columns: owner, step). 2: ``device``
# (where the run trains: "cpu", "cuda:0", "cuda:0,cuda:1"; "" while queued).
# 3: ``job_id`` (the Slurm job of the step it runs; "" on the local machine).
# A change of the schema raises this; _migrate adds the missing columns.
SCHEMA_VERSION = 3
# Without these a registry cannot be migrated (backend/runs/registry_repair.py
# rebuilds it from the run folders instead).
CORE_COLUMNS = ("run_id", "dataset_id", "state", "created_at")


def _column_definitions() -> dict[str, str]:
    """name -> its definition, read from _SCHEMA (one place for the schema)."""
    lines = [line.strip().rstrip(",") for line in _SCHEMA.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and line.split()[0] in _COLUMNS]
    return {name: definition for name, definition in pairs}


def _migrate(db) -> None:
    """Bring an older registry's runs table to this schema: each later column
    is added with its default, no row is lost."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    present = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for name, definition in _column_definitions().items():
        if name not in present:
            db.execute(f"ALTER TABLE runs ADD COLUMN {name} {definition}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class RunRegistry:
    def __init__(self, db_file: Path):
        self.db_file = db_file
        db_file.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            _migrate(db)

    def _connect(self):
        return closing(sqlite3.connect(self.db_file, timeout=30, isolation_level=None))

    def add(self, run_id: str, dataset_id: str, owner: str, options: dict,
            max_iters: int) -> None:
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT INTO runs (run_id, dataset_id, owner, state, options, max_iters,"
                " created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                (run_id, dataset_id, owner, json.dumps(options), max_iters, time.time()))

    def restore(self, record: dict) -> None:
        """Insert a whole row (a registry rebuilt from the run folders)."""
        values = {"device": "", "job_id": "", **record, "options": json.dumps(record.get("options") or {})}
        with self._lock, self._connect() as db:
            db.execute(f"INSERT INTO runs ({', '.join(_COLUMNS)}) "
                       f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
                       tuple(values.get(name) for name in _COLUMNS))

    def update(self, run_id: str, **values) -> None:
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown columns {unknown}")
        if "state" in values and values["state"] not in STATES:
            raise ValueError(f"unknown state {values['state']}")
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._lock, self._connect() as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE run_id = ?",
                       (*values.values(), run_id))

    def get(self, run_id: str) -> dict | None:
        with self._connect() as db:
            row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE run_id = ?",
                             (run_id,)).fetchone()
        return self._row(row) if row else None

    def all(self) -> list[dict]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs "
                              "ORDER BY created_at").fetchall()
        return [self._row(row) for row in rows]

    def delete(self, run_id: str) -> None:
        with self._lock, self._connect() as db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    @staticmethod
    def _row(row) -> dict:
        record = dict(zip(_COLUMNS, row))
        record["options"] = json.loads(record["options"] or "{}")
        return record
