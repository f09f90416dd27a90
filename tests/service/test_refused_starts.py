"""TrainingService: a refused Start writes nothing (or removes what it wrote),
and two Starts back to back cannot both pass the free-space check. The real
service, job manager and SQLite; only the models are stand-ins (no tokenizer
is needed to test the disk)."""
import pytest
from PIL import Image

from backend.data import dataset
from backend.training import service as training
from backend.data.store import DatasetStore
from backend.training.disk_budget import DiskBudget, DiskReservedError, registry_state
from backend.runs.jobs import JobError, JobManager
from backend.models.paths import ModelPaths
from backend.runs.registry_writes import BufferedRegistry
from backend.runs.registry import RunRegistry
from backend.services import DEMO_OPTIONS
from backend.training.user_quota import QuotaError, UserQuota


@pytest.fixture
def studio(tmp_path, monkeypatch):
    models = tmp_path / "models"
    for name in ("llm", "clip"):
        (models / name).mkdir(parents=True)
        (models / name / "config.json").write_text("{}")
    (models / "llm" / "weights.bin").write_bytes(b"w" * 1_000_000)
    (models / "iter_2181.pth").write_bytes(b"p")
    paths = ModelPaths(models / "llm", models / "clip", models / "iter_2181.pth")
    monkeypatch.setattr(training, "check_lengths", lambda *args: None)
    monkeypatch.setattr(training, "special_tokens_at", lambda _path: frozenset())
    work = tmp_path / "work"
    registry = BufferedRegistry(RunRegistry(work / "studio.db"))
    budget = DiskBudget(work, registry_state(registry), full_below=0)
    store = DatasetStore(work)
    image = tmp_path / "cat.png"
    Image.new("RGB", (32, 32), (9, 90, 200)).save(image)
    stored = store.create(image, dataset.conversations_from_rows([("Q?", "A" * 500)]), 100,
                          owner="alice")

    def service(max_queue=0, quota_gb=0.0):
        jobs = JobManager(registry, max_queue=max_queue)
        quota = UserQuota(quota_gb, store, jobs, budget)
        return training.TrainingService(store, jobs, work / "runs", lambda: paths,
                                        DEMO_OPTIONS, budget=budget, quota=quota)

    yield service, stored, work / "runs", budget


def test_starts_refused_for_a_full_queue_leave_no_run_folder(studio):
    service, stored, runs, _ = studio
    svc = service(max_queue=0)
    try:
        for options in ('{}', '{"epochs": 2}'):
            with pytest.raises(JobError, match="queue is full"):
                svc.start(stored.dataset_id, options, owner="alice")
        assert not runs.exists() or list(runs.iterdir()) == []
        assert svc.budget.outstanding() == 0
    finally:
        svc.jobs.shutdown()


def test_a_start_over_the_quota_writes_nothing(studio):
    service, stored, runs, _ = studio
    svc = service(max_queue=4, quota_gb=0.0001)  # 100 kB: less than the dataset
    try:
        with pytest.raises(QuotaError, match="Your disk quota"):
            svc.start(stored.dataset_id, "{}", owner="alice")
        assert not runs.exists() or list(runs.iterdir()) == []
    finally:
        svc.jobs.shutdown()


def test_the_second_of_two_starts_sees_the_first_ones_reservation(studio, monkeypatch):
    service, stored, runs, budget = studio
    svc = service(max_queue=4)
    # The disk has room for one run's estimate, not two (the estimate is the
    # LLM folder's size times the checkpoints, plus the 200 MB margin).
    saved = training.checkpoints_at_peak(svc.iterations(stored.samples, DEMO_OPTIONS),
                                         DEMO_OPTIONS.save_steps, DEMO_OPTIONS.save_total_limit)
    estimate = training.estimate_run_bytes(svc._model_paths().llm, saved,
                                           training.checkpoint_contents(None))
    monkeypatch.setattr(budget, "free", lambda: int(estimate * 1.5))
    # The first run stays queued: the device is held (as by a run from before a restart).
    svc.jobs.hold_for_orphan("run-from-before")
    try:
        first = svc.start(stored.dataset_id, "{}", owner="alice")
        assert first["state"] == "queued"
        with pytest.raises(DiskReservedError, match="reserved for runs already queued"):
            svc.start(stored.dataset_id, '{"epochs": 2}', owner="alice")
        assert [p.name for p in runs.iterdir()] == [first["run_id"]]
        svc.jobs.stop(first["run_id"])  # dropped from the queue: its reservation ends
        second = svc.start(stored.dataset_id, '{"epochs": 2}', owner="alice")
        assert second["state"] == "queued"
        svc.jobs.stop(second["run_id"])
    finally:
        svc.jobs.shutdown()


def test_a_restarted_server_reserves_the_queued_runs_again(studio, monkeypatch):
    service, stored, runs, budget = studio
    svc = service(max_queue=4)
    svc.jobs.hold_for_orphan("run-from-before")  # the device is held: the run stays queued
    try:
        first = svc.start(stored.dataset_id, "{}", owner="alice")
        before = budget.outstanding()
        assert before > 0
        again = DiskBudget(budget.root, budget.state_of, full_below=0)
        assert again.outstanding() == 0
        again.load_reservations(runs)
        assert again.outstanding() == before
        svc.jobs.stop(first["run_id"])
    finally:
        svc.jobs.shutdown()
