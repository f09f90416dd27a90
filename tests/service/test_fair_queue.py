"""A class's queue: round-robin over students, first come first served within one."""
import dataclasses
from types import SimpleNamespace

import pytest

from backend.runs.fair_queue import fair_order
from backend.runs.jobs import JobManager
from backend.runs.registry import RunRegistry
from tests.support.jobs import spec_for, wait_for


def runs(*names):
    """'a1' = alice's first run, in arrival order."""
    owners = {"a": "alice", "b": "bob", "c": "carol"}
    return [SimpleNamespace(owner=owners[n[0]], name=n) for n in names]


def names(order):
    return [r.name for r in order]


def test_five_runs_of_one_student_never_delay_a_classmates_first():
    assert names(fair_order(runs("a1", "a2", "a3", "a4", "a5", "b1", "c1", "b2"))) == [
        "a1", "b1", "c1", "a2", "b2", "a3", "a4", "a5"]


def test_runs_already_started_count_as_earlier_rounds():
    waiting = runs("a2", "a3", "b1")
    assert names(fair_order(waiting, {"alice": 1})) == ["b1", "a2", "a3"]
    assert names(fair_order(waiting)) == ["a2", "b1", "a3"]


def test_one_student_alone_is_first_come_first_served():
    assert names(fair_order(runs("a1", "a2", "a3"), {"alice": 4})) == ["a1", "a2", "a3"]


def owned(tmp_path, run_id, owner, **env):
    return dataclasses.replace(spec_for(tmp_path, run_id, **env), owner=owner)


@pytest.mark.processes
def test_the_manager_starts_a_classmates_first_run_before_a_students_second(tmp_path):
    jobs = JobManager(RunRegistry(tmp_path / "studio.db"), max_queue=8, stop_grace_s=2)
    try:
        jobs.submit(owned(tmp_path, "run-a1", "alice", FAKE_ITERS=400, FAKE_SLEEP=0.05))
        jobs.submit(owned(tmp_path, "run-a2", "alice", FAKE_ITERS=2))
        jobs.submit(owned(tmp_path, "run-a3", "alice", FAKE_ITERS=2))
        jobs.submit(owned(tmp_path, "run-b1", "bob", FAKE_ITERS=400, FAKE_SLEEP=0.05))
        # Alice trains now: Bob's first run is next, then Alice's others in order.
        assert [jobs.queue_position(r) for r in ("run-b1", "run-a2", "run-a3")] == [1, 2, 3]
        jobs.stop("run-a1", keep_progress=False)
        assert wait_for(jobs, "run-b1", {"running"})["queue_position"] is None
        assert [jobs.queue_position(r) for r in ("run-a2", "run-a3")] == [1, 2]
        jobs.stop("run-b1", keep_progress=False)
        for run_id in ("run-a2", "run-a3"):
            wait_for(jobs, run_id, {"done"})
        started = {r: jobs.registry.get(r)["started_at"] for r in ("run-b1", "run-a2", "run-a3")}
        assert started["run-b1"] < started["run-a2"] < started["run-a3"]
    finally:
        jobs.shutdown()
