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
