"""The runs table is a live view of the registry (real JobManager, fake trainer)."""
from types import SimpleNamespace

import pytest

from backend.jobs import JobManager
from backend.run_registry import RunRegistry
from tests.test_jobs import spec_for, wait_for
from ui.train_tab import frame_signature, runs_frame


@pytest.mark.processes
def test_every_change_of_any_run_changes_what_the_table_shows(tmp_path):
    jobs = JobManager(RunRegistry(tmp_path / "studio.db"), max_queue=4, stop_grace_s=2)
    services = SimpleNamespace(jobs=jobs, access=SimpleNamespace(
        visible_runs=lambda _user: jobs.list_runs()))
    try:
        shown = [frame_signature(runs_frame(services))]

        def changed() -> bool:
            signature = frame_signature(runs_frame(services))
            fresh = signature != shown[-1]
            shown.append(signature)
            return fresh

        jobs.submit(spec_for(tmp_path, "run-a", FAKE_ITERS=4))
        assert changed()
        wait_for(jobs, "run-a", {"done"})
        assert changed()
        done = runs_frame(services)
        assert list(done.iloc[0])[:4] == ["run-a", "done", 4, "0.7500"]  # loss 3/4
        assert not changed()  # nothing new: nothing to send
        jobs.submit(spec_for(tmp_path, "run-b", FAKE_ITERS=400, FAKE_SLEEP=0.05))
        wait_for(jobs, "run-b", {"running"})
        assert changed()
        assert runs_frame(services).iloc[0, 0] == "run-b"  # newest first, both listed
        assert len(runs_frame(services)) == 2
        jobs.stop("run-b")
        wait_for(jobs, "run-b", {"stopped"})
        assert changed()
        jobs.resume("run-b")
        wait_for(jobs, "run-b", {"running"})
        assert changed()
        row = runs_frame(services).iloc[0]
        # A resumed run's earlier loss is not its final loss.
        assert row.iloc[1] == "training" and row.iloc[3] == "–"
        # The language is part of what is shown.
        assert frame_signature(runs_frame(services, "zh")) != shown[-1]
        assert list(runs_frame(services, "zh").columns) != list(runs_frame(services).columns)
    finally:
        jobs.stop("run-b", keep_progress=False)
        jobs.shutdown()
