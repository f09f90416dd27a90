"""A second Start of the same dataset and options returns the run already under way
(real JobManager, real SQLite, the fake trainer as the run's process)."""
import json
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from backend.runs.jobs import JobManager
from backend.runs.registry import RunRegistry
from backend.runs.same_run import find_same_run
from backend.training.service import TrainingService
from backend.xtuner.config import TrainOptions
from tests.support.jobs import spec_for, wait_for


class Service(TrainingService):
    """The real start() (options, dedupe, lock); the run it submits is the fake
    trainer, so no model or tokenizer is needed."""

    def _submit(self, dataset_id, stored, options, owner, recipe=None):
        run_id = f"run-{len(self.jobs.list_runs()):010x}"
        spec = spec_for(self.runs_root, run_id, FAKE_ITERS=400, FAKE_SLEEP=0.05)
        spec.dataset_id, spec.owner, spec.options = dataset_id, owner, asdict(options)
        return self.jobs.submit(spec)


@pytest.fixture
def service(tmp_path):
    jobs = JobManager(RunRegistry(tmp_path / "studio.db"), max_queue=4, stop_grace_s=2)
    store = SimpleNamespace(get=lambda _id: SimpleNamespace(samples=20))
    yield Service(store, jobs, tmp_path, None, TrainOptions(max_length=256))
    for run in jobs.list_runs():
        jobs.stop(run["run_id"], keep_progress=False)
    jobs.shutdown()


@pytest.mark.processes  # the fake trainer
def test_second_start_while_running_or_queued_returns_that_run(service):
    first = service.start("ds-1", "{}", owner="ann")
    assert first["already_started"] is False
    wait_for(service.jobs, first["run_id"], {"running"})
    again = service.start("ds-1", "{}", owner="ann")
    assert again["already_started"] is True and again["run_id"] == first["run_id"]
    # The same options written another way are the same options.
    assert service.start("ds-1", json.dumps({"lr": 2e-4}), owner="ann")["run_id"] \
        == first["run_id"]
    # Different options, another dataset or another student: a new run each.
    other = service.start("ds-1", json.dumps({"epochs": 2}), owner="ann")
    assert other["already_started"] is False and other["state"] == "queued"
    assert service.start("ds-1", json.dumps({"epochs": 2}), owner="ann")["run_id"] \
        == other["run_id"]  # queued counts too
    assert service.start("ds-2", "{}", owner="ann")["run_id"] != first["run_id"]
    assert service.start("ds-1", "{}", owner="bob")["run_id"] != first["run_id"]
    assert len(service.jobs.list_runs()) == 4


@pytest.mark.processes  # the fake trainer
def test_a_stopped_run_is_not_reused(service):
    first = service.start("ds-1", "{}", owner="ann")
    wait_for(service.jobs, first["run_id"], {"running"})
    service.jobs.stop(first["run_id"], keep_progress=False)
    wait_for(service.jobs, first["run_id"], {"stopped"})
    assert find_same_run(service.jobs, "ds-1", TrainOptions(max_length=256), "ann") is None
    assert service.start("ds-1", "{}", owner="ann")["run_id"] != first["run_id"]
