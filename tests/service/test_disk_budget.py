"""Issue 16, a full disk: a real tmpfs filled during a run (fake trainer, real
SQLite), reservations, refused starts leaving nothing, quotas, limits, and the
job worker surviving a registry that cannot write."""
import json
import shutil
import sqlite3
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from backend.data import dataset
from backend.access.accounts import Accounts, parse_pair
from backend.data.store import DatasetStore
from backend.training.disk_budget import DiskBudget, DiskFullError, DiskReservedError, registry_state
from backend.runs.jobs import JobError, JobManager, Step
from backend.runs.registry_writes import BufferedRegistry
from backend.access.rules import RunAccess
from backend.runs.registry import RunRegistry
from backend.training.user_quota import QuotaError, UserQuota
from tests.support.polling import poll_until
from tests.support.tmpfs import small_tmpfs
from tests.support.jobs import spec_for, wait_for

MB = 1024 * 1024
# A step that writes until the disk is full, as pth_to_hf did on the disk.
FILL = ("import sys\n"
        "with open(sys.argv[1], 'wb') as f:\n"
        "    while True:\n"
        "        f.write(b'x' * 65536); f.flush()\n")


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs."""
    with small_tmpfs(tmp_path / "disk", "24m") as mount:
        yield mount


def image_file(path: Path) -> Path:
    Image.new("RGB", (32, 32), (200, 120, 40)).save(path)
    return path


# ---- reservations -----------------------------------------------------------

@pytest.mark.processes  # mount(8) is a subprocess
def test_two_starts_back_to_back_cannot_both_pass_the_free_space_check(small_disk):
    states = {}
    budget = DiskBudget(small_disk, states.get, full_below=1 * MB)
    free = budget.free()
    needed = int(free * 0.6)
    with budget.reserve("run-a", small_disk / "run-a", needed):
        (small_disk / "run-a").mkdir()
    states["run-a"] = "queued"  # accepted: its estimate stays reserved
    with pytest.raises(DiskReservedError, match="reserved for runs already queued"):
        with budget.reserve("run-b", small_disk / "run-b", needed):
            pass
    # What run-a has written counts against its own reservation, not twice.
    (small_disk / "run-a" / "ckpt").write_bytes(b"x" * (needed // 2))
    assert budget.outstanding() == pytest.approx(needed - needed // 2, abs=64 * 1024)
    states["run-a"] = "done"  # ended: the reservation is free again
    with budget.reserve("run-b", small_disk / "run-b", int(budget.free() * 0.9)):
        pass


def test_a_refused_request_removes_what_it_wrote(tmp_path):
    budget = DiskBudget(tmp_path, lambda _id: None, full_below=0)
    run_dir = tmp_path / "runs" / "run-x"
    with pytest.raises(JobError, match="queue is full"):
        with budget.reserve("run-x", run_dir, 1):
            (run_dir / "data").mkdir(parents=True)
            (run_dir / "data" / "repeated_data.json").write_text("[]")
            raise JobError("The queue is full (0 runs waiting)")
    assert not run_dir.exists()
    assert budget.outstanding() == 0


@pytest.mark.processes
def test_refused_starts_through_the_job_manager_leave_no_folder(tmp_path):
    """The issue's leak: every /start_training refused with "queue is full"
    left its run folder behind. The same path as TrainingService._submit."""
    registry = BufferedRegistry(RunRegistry(tmp_path / "studio.db"))
    manager = JobManager(registry, max_queue=0)
    budget = DiskBudget(tmp_path, registry_state(registry), full_below=0)
    try:
        for name in ("run-1", "run-2"):
            spec = spec_for(tmp_path, name)
            with pytest.raises(JobError, match="queue is full"):
                with budget.reserve(name, spec.run_dir, 1):
                    (spec.run_dir / "data").mkdir(parents=True)
                    (spec.run_dir / "data" / "copy.json").write_bytes(b"x" * 100_000)
                    manager.submit(spec)
        assert list((tmp_path / "runs").iterdir()) == []
        assert registry.all() == []
    finally:
        manager.shutdown()


# ---- the disk fills during a run ----------------------------------------------

def fill_step(run_dir: Path) -> Step:
    return Step("convert", [sys.executable, "-c", FILL, str(run_dir / "hf" / "model.bin")],
                "converting")


@pytest.mark.processes
def test_a_disk_filled_during_a_run_fails_that_run_and_nothing_else(small_disk):
    inner = RunRegistry(small_disk / "studio.db")
    budget = DiskBudget(small_disk, full_below=1 * MB)
    registry = BufferedRegistry(inner, disk_full=budget.full_now)
    budget.state_of = registry_state(registry)
    manager = JobManager(registry, max_queue=4, stop_grace_s=2)
    try:
        spec = spec_for(small_disk, "run-full")
        (spec.run_dir / "hf").mkdir(parents=True)
        spec.steps = [spec.steps[0], fill_step(spec.run_dir)]
        manager.submit(spec)
        snap = wait_for(manager, "run-full", {"failed", "done"})
        assert snap["state"] == "failed"
        assert snap["error"].startswith("The disk holding WORK_DIR is full: "), snap["error"]
        assert "MB free" in snap["error"]

        # While the disk is full: status and lists still answer...
        assert manager.snapshot("run-full")["state"] == "failed"
        assert [r["state"] for r in manager.list_runs()] == ["failed"]
        # ...and new datasets and runs are refused with that sentence.
        with pytest.raises(DiskFullError, match="The disk holding WORK_DIR is full"):
            budget.check_writable()
        store = DatasetStore(small_disk / "work",
                             admit=lambda owner, size: budget.check_writable())
        with pytest.raises(DiskFullError):
            store.create(image_file(small_disk.parent / "cat.png"),
                         dataset.conversations_from_rows([("Q?", "A.")]), 2)
        assert list(store.root.iterdir()) == []  # no empty dataset folder

        # Space back: the failure is in studio.db and a new run trains, no restart.
        (spec.run_dir / "hf" / "model.bin").unlink()
        budget.check_writable()
        next_run = spec_for(small_disk, "run-after")
        manager.submit(next_run)
        assert wait_for(manager, "run-after", {"failed", "done"})["state"] == "done"
        assert registry.flush() == 0
        assert inner.get("run-full")["state"] == "failed"
        assert inner.get("run-full")["error"].startswith("The disk holding WORK_DIR is full")
    finally:
        manager.shutdown()


@pytest.mark.processes
def test_a_dataset_that_fills_the_disk_leaves_no_folder(small_disk):
    (small_disk / "ballast").write_bytes(b"x" * (shutil.disk_usage(small_disk).free - 2 * MB))
    store = DatasetStore(small_disk)
    big = [("Q%d?" % i, "A" * 1900) for i in range(200)]
    conversations = dataset.conversations_from_rows(big)  # ~40 MB at 100 repeats
    with pytest.raises(DiskFullError, match="The disk holding WORK_DIR is full"):
        store.create(image_file(small_disk.parent / "cat.png"), conversations, 50)
    assert list(store.root.iterdir()) == []


# ---- the worker survives the registry ----------------------------------------

class FlakyRegistry(RunRegistry):
    """Real SQLite; a write with ``ended_at`` from the job worker fails while
    ``failing`` is set, as on the issue's full disk (the run's last write,
    then the same write again in the worker's except)."""

    failing = True
    only_worker = True

    def update(self, run_id, **values):
        if self.failing and "ended_at" in values and (
                not self.only_worker or threading.current_thread().name == "job-manager"):
            raise sqlite3.OperationalError("database or disk is full")
        super().update(run_id, **values)


@pytest.mark.processes
def test_the_worker_survives_registry_writes_that_fail(tmp_path):
    registry = FlakyRegistry(tmp_path / "studio.db")
    manager = JobManager(registry, max_queue=4, stop_grace_s=2)
    try:
        manager.submit(spec_for(tmp_path, "run-a", FAKE_ITERS=2))
        # The run's process ended; its end could not be written, the device is free.
        poll_until(lambda: manager.active_run() is None and manager.queue_position("run-a")
                   is None and (tmp_path / "runs/run-a/hf_finetuned").exists(),
                   message="run-a never ended")
        registry.failing = False
        manager.submit(spec_for(tmp_path, "run-b", FAKE_ITERS=2))
        assert wait_for(manager, "run-b", {"done", "failed"})["state"] == "done"
    finally:
        manager.shutdown()


@pytest.mark.processes
def test_buffered_writes_show_at_once_and_reach_sqlite_when_they_can(tmp_path):
    inner = FlakyRegistry(tmp_path / "studio.db")
    inner.only_worker = False
    registry = BufferedRegistry(inner)
    manager = JobManager(registry, max_queue=4, stop_grace_s=2)
    try:
        manager.submit(spec_for(tmp_path, "run-a", FAKE_ITERS=2))
        assert wait_for(manager, "run-a", {"done", "failed"})["state"] == "done"
        assert inner.get("run-a")["state"] != "done"  # not written yet...
        assert registry.flush() == 1
        inner.failing = False
        assert manager.list_runs()[0]["state"] == "done"  # ...until a read retries it
        assert inner.get("run-a")["state"] == "done" and registry.flush() == 0
    finally:
        manager.shutdown()


# ---- quotas, limits, deleting a dataset ---------------------------------------

@pytest.mark.processes
def test_quota_counts_datasets_runs_and_reservations_and_refuses_beyond(tmp_path):
    registry = BufferedRegistry(RunRegistry(tmp_path / "studio.db"))
    manager = JobManager(registry, max_queue=4)
    budget = DiskBudget(tmp_path, registry_state(registry), full_below=0)
    quota_holder = {}
    store = DatasetStore(tmp_path, admit=lambda owner, size: quota_holder["q"].check(owner, size))
    quota = quota_holder["q"] = UserQuota(0.002, store, manager, budget)  # 2 MB
    try:
        image = image_file(tmp_path / "cat.png")
        rows = dataset.conversations_from_rows([("What is it?", "A" * 1000)])
        store.create(image, rows, 400, owner="alice")  # ~0.45 MB
        used = quota.usage("alice").total
        assert 400_000 < used < 600_000
        with pytest.raises(QuotaError, match="Your disk quota is 0.002 GB") as refused:
            store.create(image, rows, 1500, owner="alice")  # ~1.7 MB more
        assert refused.value.message_key == "err_quota"
        assert len(list(store.root.iterdir())) == 1
        store.create(image, rows, 1500, owner="bob")  # bob's quota is his own
        # A queued run's reservation counts against its owner at once (this
        # one trains until it is stopped: queued or running throughout).
        spec = spec_for(tmp_path, "run-q", FAKE_ITERS=100_000)
        spec.owner = "alice"
        with budget.reserve("run-q", spec.run_dir, 1_000_000):
            manager.submit(spec)
        assert quota.usage("alice").reserved > 900_000
        with pytest.raises(QuotaError):
            quota.check("alice", 700_000)  # 0.45 + 1 reserved + 0.7 > 2 MB
        manager.stop("run-q", keep_progress=False)
        wait_for(manager, "run-q", {"stopped", "failed"})
        assert quota.usage("alice").reserved == 0  # ended: nothing reserved
        assert UserQuota(0.002, store, manager, budget, applies=lambda o: False) \
            .usage("alice").quota == 0
    finally:
        manager.shutdown()


def test_limits_are_refused_naming_the_limit(tmp_path):
    with pytest.raises(dataset.LimitError, match="at most 20 turns") as turns:
        dataset.parse_qa_json(json.dumps([{"conversations": [
            {"from": "human" if i % 2 == 0 else "gpt", "value": f"m{i}"} for i in range(1000)]}]))
    assert turns.value.message_key == "err_limit_turns" and turns.value.message_fields["got"] == 500
    with pytest.raises(dataset.LimitError, match="At most 200 conversations"):
        dataset.conversations_from_rows([("Q?", "A.")] * 201)
    store = DatasetStore(tmp_path)
    rows = dataset.conversations_from_rows([(f"Q{i}?", "A" * 1000) for i in range(200)])
    with pytest.raises(dataset.LimitError, match="at most 64 MB") as size:
        store.create(image_file(tmp_path / "cat.png"), rows, 500)
    assert size.value.message_key == "err_limit_bytes"
    assert list(store.root.iterdir()) == []


def test_deeply_nested_json_gets_a_clear_message():
    from backend.training.service import parse_options
    from backend.xtuner.config import TrainOptions

    with pytest.raises(dataset.DatasetError, match="nested too deeply"):
        dataset.parse_qa_json("[" * 100_000)
    with pytest.raises(ValueError, match="options_json does not parse: nested too deeply"):
        parse_options("{\"a\": " + "[" * 100_000, TrainOptions())


def test_a_dataset_is_deleted_by_its_owner_only(tmp_path):
    store = DatasetStore(tmp_path)
    stored = store.create(image_file(tmp_path / "cat.png"),
                          dataset.conversations_from_rows([("Q?", "A.")]), 2, owner="alice")
    access = RunAccess(Accounts([parse_pair("alice:a"), parse_pair("bob:b", "teacher")]), None, store)
    with pytest.raises(Exception, match="Unknown dataset id"):
        access.check_dataset("bob", stored.dataset_id)  # a teacher reads, never deletes
    access.check_dataset("alice", stored.dataset_id)
    store.delete(stored.dataset_id)
    assert not stored.folder.exists()
    with pytest.raises(KeyError):
        store.get(stored.dataset_id)
    with pytest.raises(KeyError):
        store.delete(stored.dataset_id)


class NoDeleteRegistry(RunRegistry):
    def delete(self, run_id):
        raise sqlite3.OperationalError("database or disk is full")


def test_a_delete_the_full_disk_refuses_leaves_the_run_whole(tmp_path):
    registry = BufferedRegistry(NoDeleteRegistry(tmp_path / "studio.db"),
                                disk_full=lambda error: DiskFullError(0))
    manager = JobManager(registry, max_queue=1)
    try:
        spec = spec_for(tmp_path, "run-d")
        manager.hold_for_orphan("run-before")  # the device is held: run-d stays queued
        manager.submit(spec)
        manager.stop("run-d")
        with pytest.raises(DiskFullError, match="The disk holding WORK_DIR is full: 0 MB"):
            manager.delete("run-d")
        assert manager.snapshot("run-d")["state"] == "stopped"
        assert spec.run_dir.exists()
    finally:
        manager.shutdown()
