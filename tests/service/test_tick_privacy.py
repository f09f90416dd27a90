"""The Finetune tab's hidden timer (``tick``) answers the same for another
student's run as for a run that does not exist (issue 16): no way to learn
which run ids exist."""
from types import SimpleNamespace

from backend.access.accounts import Accounts, parse_pair
from backend.runs.jobs import JobManager
from backend.access.rules import RunAccess
from backend.runs.registry import RunRegistry
from ui.train_tab import view


def comparable(outputs, run_id):
    """The tab's outputs as text, with the asked-for id taken out."""
    return [str(getattr(o, "to_dict", lambda: o)()).replace(run_id, "<id>") for o in outputs]


def test_tick_for_another_students_run_reads_like_a_missing_run(tmp_path):
    registry = RunRegistry(tmp_path / "studio.db")
    registry.add("run-aaaaaaaaaa", "ds-1", "alice", {}, 10)
    jobs = JobManager(registry)
    try:
        accounts = Accounts([parse_pair("alice:a"), parse_pair("bob:b")])
        services = SimpleNamespace(jobs=jobs, access=RunAccess(accounts, jobs, None))
        for lang in ("en", "zh"):
            theirs = view(services, "run-aaaaaaaaaa", lang, "bob")
            missing = view(services, "run-bbbbbbbbbb", lang, "bob")
            assert comparable(theirs, "run-aaaaaaaaaa") == comparable(missing, "run-bbbbbbbbbb")
            assert "Unknown run" in theirs[0]
        # The owner does see it (the test can tell the two apart).
        assert "Unknown run" not in view(services, "run-aaaaaaaaaa", "en", "alice")[0]
    finally:
        jobs.shutdown()
