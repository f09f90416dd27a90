import pytest

from tests.support.trained_app import trained_demo_app


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory):
    """The demo app with one finished QA x 200 run (tests/support/trained_app.py)."""
    with trained_demo_app(tmp_path_factory.mktemp("trained-demo")) as demo:
        yield demo

