import pytest

from tests.support.trained_app import trained_demo_app


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory):
    """The demo app with one finished QA x 200 run (tests/support/trained_app.py)."""
    with trained_demo_app(tmp_path_factory.mktemp("trained-demo")) as demo:
        yield demo


def pytest_collection_modifyitems(config, items):
    """The shared server and its trainer start before any test's own check of started
    processes (tests/conftest.py) looks, so a test using them must be marked by hand."""
    unmarked = [item.nodeid for item in items if "trained_demo" in getattr(item, "fixturenames", ())
                and not all(item.get_closest_marker(m) for m in ("slow", "processes"))]
    if unmarked:
        raise pytest.UsageError("uses trained_demo without @pytest.mark.slow and "
                                f"@pytest.mark.processes: {', '.join(unmarked)}")
