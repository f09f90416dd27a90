"""A damaged studio.db loses no run: each way of damaging it (real SQLite
files) is detected at start-up, moved aside and rebuilt from the run folders;
an older schema is migrated in place."""
import json
import os
import sqlite3
import sys
from contextlib import closing
from types import SimpleNamespace

import pytest

from backend.runs.jobs import JobManager, JobSpec, Step
from backend.runs.registry_repair import (CONVERT_ERROR, REBUILT_ERROR, open_registry,
                                     registry_problem)
from backend.runs.registry import SCHEMA_VERSION, RunRegistry

EXPECTED = {  # run id -> (owner, state, step)
    "run-000000000a": ("alice", "done", ""),
    "run-000000000b": ("bob", "failed", "convert_finetuned"),
    "run-000000000c": ("carol", "failed", ""),
    "run-000000000d": ("dave", "stopped", ""),
}


def make_run(runs, run_id, owner, checkpoint=None, converted=False, stopped=False):
    run_dir = runs / run_id
    train = run_dir / "train"
    (train / "20261202_100000" / "vis_data").mkdir(parents=True)
    JobSpec(run_id=run_id, dataset_id="ds-1", run_dir=run_dir, max_iters=6, owner=owner,
            options={"lr": 0.0002}, steps=[Step("train", [sys.executable, "-c", "pass"])]).save()
    (run_dir / "run.log").write_text("Iter(train) [ 2/6] loss: 1.5\n")
    (train / "20261202_100000" / "vis_data" / "scalars.json").write_text(
        json.dumps({"iter": 2, "loss": 1.5, "lr": 1e-4}) + "\n")
    if checkpoint:
        (train / f"iter_{checkpoint}.pth").write_bytes(b"weights")
    if converted:
        for name in ("llm_adapter", "projector"):
            (run_dir / "hf_finetuned" / name).mkdir(parents=True)
    if stopped:
        (train / "stop_requested").write_text("stop\n")


@pytest.fixture
def work(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "run-000000000a", "alice", checkpoint=6, converted=True)
    make_run(runs, "run-000000000b", "bob", checkpoint=6)
    make_run(runs, "run-000000000c", "carol", checkpoint=2)
    make_run(runs, "run-000000000d", "dave", checkpoint=2, stopped=True)
    registry = RunRegistry(tmp_path / "studio.db")
    for run_id, (owner, state, step) in EXPECTED.items():
        registry.add(run_id, "ds-1", owner, {"lr": 0.0002}, 6)
        # Long errors: the file spans many pages, so a cut last page loses rows.
        registry.update(run_id, state=state, step=step, error="x" * 3000)
    return tmp_path


def half_truncated(db):
    os.truncate(db, db.stat().st_size // 2)


def last_page_cut(db):
    with closing(sqlite3.connect(db)) as connection:
        page = connection.execute("PRAGMA page_size").fetchone()[0]
    os.truncate(db, db.stat().st_size - page)


def random_bytes(db):
    db.write_bytes(os.urandom(db.stat().st_size))


def zero_length(db):
    db.write_bytes(b"")


def a_directory(db):
    db.unlink()
    db.mkdir()
    (db / "something").write_text("?")


def no_runs_table(db):
    db.unlink()
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("CREATE TABLE other (x)")


def no_state_column(db):
    db.unlink()
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, dataset_id TEXT)")


@pytest.mark.processes  # the rebuilt registry's JobManager resumes a run ("python -c pass")
@pytest.mark.parametrize("damage", [half_truncated, last_page_cut, random_bytes, zero_length,
                                    a_directory, no_runs_table, no_state_column])
def test_a_damaged_registry_is_moved_aside_and_rebuilt(work, damage):
    db = work / "studio.db"
    damage(db)
    assert registry_problem(db) is not None

    registry, repair = open_registry(db, work / "runs")

    assert repair is not None and repair.runs == 4
    assert repair.moved_to.exists() and repair.moved_to.name.startswith("studio.db.damaged-")
    assert "4 runs were recovered" in repair.describe()
    rows = {r["run_id"]: r for r in registry.all()}
    assert {run: (r["owner"], r["state"], r["step"]) for run, r in rows.items()} == EXPECTED
    assert rows["run-000000000b"]["error"] == CONVERT_ERROR
    assert rows["run-000000000c"]["error"] == REBUILT_ERROR
    assert all(r["final_loss"] == 1.5 and r["options"] == {"lr": 0.0002} for r in rows.values())
    assert registry_problem(db) is None

    # The app's job manager starts on it and answers for every run.
    manager = JobManager(registry)
    try:
        manager.reconcile(work / "runs")
        assert {r["run_id"] for r in manager.list_runs()} == set(EXPECTED)
        assert manager.snapshot("run-000000000a")["state"] == "done"
        assert manager.resume("run-000000000c")["state"] in ("queued", "running", "done",
                                                             "failed")
    finally:
        manager.shutdown()


def test_the_wal_of_a_damaged_registry_goes_with_it(work):
    db = work / "studio.db"
    wal = db.with_name("studio.db-wal")
    wal.write_bytes(b"stale")
    random_bytes(db)
    _registry, repair = open_registry(db, work / "runs")
    assert not wal.exists() and repair.moved_to.with_name(repair.moved_to.name + "-wal").exists()


def test_a_missing_registry_is_rebuilt_from_the_folders(work):
    (work / "studio.db").unlink()
    registry, repair = open_registry(work / "studio.db", work / "runs")
    assert repair.moved_to is None and repair.runs == 4
    assert len(registry.all()) == 4


def test_a_healthy_registry_is_left_alone(work):
    registry, repair = open_registry(work / "studio.db", work / "runs")
    assert repair is None
    assert [p.name for p in work.iterdir() if "damaged" in p.name] == []
    assert registry.get("run-000000000a")["error"] == "x" * 3000  # its own rows, not rebuilt


def test_an_older_schema_is_migrated_without_losing_rows(tmp_path):
    db = tmp_path / "studio.db"
    with closing(sqlite3.connect(db)) as connection:  # before owner and step existed
        connection.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, dataset_id TEXT NOT NULL, "
            "state TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}', "
            "max_iters INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, "
            "started_at REAL, ended_at REAL, pid INTEGER, final_loss REAL, "
            "error TEXT NOT NULL DEFAULT '')")
        connection.execute("INSERT INTO runs (run_id, dataset_id, state, options, max_iters, "
                           "created_at, final_loss) VALUES ('run-00000000ee', 'ds-1', 'done', "
                           "'{\"lr\": 0.1}', 6, 1.0, 0.25)")
        connection.commit()
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 0

    registry, repair = open_registry(db, tmp_path / "runs")

    assert repair is None
    row = registry.get("run-00000000ee")
    assert (row["state"], row["owner"], row["step"], row["final_loss"]) == ("done", "", "", 0.25)
    assert row["options"] == {"lr": 0.1}
    registry.update("run-00000000ee", owner="alice", step="convert")  # the new columns work
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("lang,words", [("en", "rebuilt from the run folders"),
                                        ("zh", "重建")])
def test_the_page_says_the_registry_was_rebuilt(work, lang, words):
    from ui.app_ui import models_markdown

    random_bytes(work / "studio.db")
    _registry, repair = open_registry(work / "studio.db", work / "runs")
    status = {"error": "", "ready": False, "profile": "demo", "message": "building",
              "fraction": 0.5}
    services = SimpleNamespace(models=SimpleNamespace(status=lambda: status),
                               registry_repair=repair)
    text = models_markdown(services, lang)
    assert words in text and repair.moved_to.name in text and "**4**" in text
    services.registry_repair = None
    assert words not in models_markdown(services, lang)


@pytest.mark.slow
@pytest.mark.processes
def test_the_app_starts_on_a_damaged_registry_and_lists_every_run(work):
    from gradio_client import Client

    from tests.support.app_server import running_app

    random_bytes(work / "studio.db")
    missing = work / "no-models"  # custom profile: nothing is built or loaded
    args = ("--profile", "custom", "--llm", str(missing), "--visual-encoder", str(missing),
            "--pretrained-pth", str(missing))
    # running_app takes the work dir; the fixture's folder is it.
    with running_app(work, *args) as (url, _process):
        runs = Client(url, verbose=False).predict(api_name="/list_runs")
    assert {r["run_id"]: r["state"] for r in runs} == {
        run: state for run, (_owner, state, _step) in EXPECTED.items()}
    assert any(p.name.startswith("studio.db.damaged-") for p in work.iterdir())
