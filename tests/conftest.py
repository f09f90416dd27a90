import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# Tests that start real subprocesses (trainers, app servers, converters, a
# browser) carry the `processes` marker, so `pytest -m processes` reruns
# exactly the tests a timing change can affect. The check below keeps the
# marker honest: a test that starts a process without it fails.
import subprocess  # noqa: E402

import pytest  # noqa: E402

from tests.support.slurm_cluster import local_slurm_cluster  # noqa: E402
from tests.support.gradio_client_race import mend_gradio_client_race  # noqa: E402

# gradio_client can lose a quick call's result and wait forever (the module says how).
mend_gradio_client_race()


@pytest.fixture(autouse=True)
def _processes_marker_is_honest(request, monkeypatch):
    started = []
    original = subprocess.Popen.__init__

    def counting_init(self, *args, **kwargs):
        started.append(args[0] if args else kwargs.get("args"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", counting_init)
    yield
    if started and request.node.get_closest_marker("processes") is None:
        pytest.fail(f"{request.node.nodeid} started {started[0]!r}: mark it "
                    "@pytest.mark.processes (pytest.ini)", pytrace=False)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real one-node Slurm cluster, once a session (tests/support/slurm_cluster.py)."""
    with local_slurm_cluster() as cluster:
        yield cluster


# Session fixtures whose processes start before any test's own check of started
# processes looks: a test using one is marked by hand (so `-m slurm` finds them all).
FIXTURE_MARKERS = {"trained_demo": ("slow", "processes"),     # tests/app/conftest.py
                   "slurm_cluster": ("slurm", "processes")}


def pytest_collection_modifyitems(config, items):
    for fixture, markers in FIXTURE_MARKERS.items():
        unmarked = [item.nodeid for item in items if fixture in getattr(item, "fixturenames", ())
                    and not all(item.get_closest_marker(m) for m in markers)]
        if unmarked:
            needed = " and ".join(f"@pytest.mark.{m}" for m in markers)
            raise pytest.UsageError(f"uses {fixture} without {needed}: {', '.join(unmarked)}")
