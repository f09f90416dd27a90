"""Start the real app in a subprocess for API and browser tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.support.polling import LONG, poll_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(work_dir: Path, *args: str, env: dict | None = None, timeout: float = 300):
    """Yield the base URL of a freshly started app; stop it afterwards."""
    port = free_port()
    log = open(work_dir.parent / f"app-{port}.log", "wb")
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--work-dir",
         str(work_dir), *args], cwd=ROOT, env=full_env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"

    def serving() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"app exited: {Path(log.name).read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return True
        except OSError:
            return False

    try:
        poll_until(serving, timeout, interval=0.5, message=f"app at {url} did not start")
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()


def wait_models_ready(client, timeout: float = LONG) -> dict:
    def ready():
        status = client.predict(api_name="/models_status")
        if status["error"]:
            raise RuntimeError(status["error"])
        return status["ready"] and status

    return poll_until(ready, timeout, interval=1, message="demo models were not ready")


def wait_run(client, run_id: str, states=("done", "failed", "stopped"), timeout=LONG) -> dict:
    """The run's status once its state is one of ``states``."""
    return poll_until(
        lambda: (status := client.predict(run_id, api_name="/run_status"))["state"] in states
        and status, timeout, interval=1, message=f"run {run_id} did not reach {states}")


def wait_iter(client, run_id: str, at_least: int, timeout=LONG) -> dict:
    """The run's status once it trained ``at_least`` iterations or left training."""
    def reached():
        status = client.predict(run_id, api_name="/run_status")
        done = status["iter"] >= at_least or status["state"] not in ("queued", "running")
        return done and status

    return poll_until(reached, timeout, interval=0.5,
                      message=f"run {run_id} did not reach iteration {at_least}")


def models_dir() -> Path:
    """The demo models every app test shares (STUDIO_TEST_MODELS_DIR), built once
    per machine (tests/support/demo_models.py): the app's --models-dir."""
    from tests.support.demo_models import ensure_shared_demo_models

    return ensure_shared_demo_models()
