"""No handler tells a student whether another student's run exists: each
reads the same for another user's run id as for one that does not exist."""
import sys
from types import SimpleNamespace

import gradio as gr
import pytest

from backend.access import Account, Accounts
from backend.dataset_store import DatasetStore
from backend.jobs import JobManager, JobSpec, Step
from backend.run_access import RunAccess
from backend.run_registry import RunRegistry
from tests.test_jobs import wait_for
from ui import api, compare_tab, train_tab

ALICES = "run-00000000aa"
NOBODYS = "run-00000000bb"


@pytest.fixture
def services(tmp_path):
    accounts = Accounts([Account("alice", "a"), Account("bob", "b")])
    manager = JobManager(RunRegistry(tmp_path / "studio.db"))
    manager.submit(JobSpec(run_id=ALICES, dataset_id="ds-1", run_dir=tmp_path / "runs" / ALICES,
                           steps=[Step("train", [sys.executable, "-c", "pass"])],
                           max_iters=1, owner="alice"))
    wait_for(manager, ALICES, {"done"})
    yield SimpleNamespace(access=RunAccess(accounts, manager, DatasetStore(tmp_path)),
                          jobs=manager)
    manager.shutdown()


def as_user(name):
    return SimpleNamespace(username=name)


def refusal(call, run_id) -> str:
    with pytest.raises(gr.Error) as caught:
        call(run_id)
    return str(caught.value.message).replace(run_id, "RUN")


@pytest.mark.processes
@pytest.mark.parametrize("endpoint", sorted(api.READS_RUN | api.WRITES_RUN))
def test_api_endpoints_read_the_same(services, endpoint):
    guarded = api._guard(services, endpoint, lambda *args: "ran")
    call = lambda run_id: guarded(run_id, as_user("bob"))  # noqa: E731
    assert refusal(call, ALICES) == refusal(call, NOBODYS)
    assert "Unknown run" in refusal(call, NOBODYS)
    assert guarded(ALICES, as_user("alice")) == "ran"


@pytest.mark.processes
def test_compare_tab_handlers_read_the_same(services):
    def handler(run_id, request: gr.Request):
        return "ran"

    guarded = compare_tab._guarded(services, handler)
    call = lambda run_id: guarded(run_id, as_user("bob"))  # noqa: E731
    assert refusal(call, ALICES) == refusal(call, NOBODYS)
    assert guarded(ALICES, as_user("alice")) == "ran"


@pytest.mark.processes
def test_the_train_tabs_timer_and_view_read_the_same(services):
    # The timer shows view(): it must not tell bob that alice's run exists.
    views = [train_tab.view(services, run, "en", "bob") for run in (ALICES, NOBODYS)]
    assert views[0][0].replace(ALICES, "RUN") == views[1][0].replace(NOBODYS, "RUN")
    assert list(views[0][1].columns) == list(views[1][1].columns) and views[0][2:] == views[1][2:]
