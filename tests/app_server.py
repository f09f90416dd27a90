"""Start the real app in a subprocess for API and browser tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(work_dir: Path, *args: str, env: dict | None = None, timeout: float = 120):
    """Yield the base URL of a freshly started app; stop it afterwards."""
    port = free_port()
    log = open(work_dir.parent / f"app-{port}.log", "wb")
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--work-dir",
         str(work_dir), *args], cwd=ROOT, env=full_env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app exited: {Path(log.name).read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("app did not start in time")
                time.sleep(0.5)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()


def wait_models_ready(client, timeout: float = 400) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.predict(api_name="/models_status")
        if status["ready"]:
            return status
        if status["error"]:
            raise RuntimeError(status["error"])
        time.sleep(2)
    raise TimeoutError("demo models were not ready in time")


def wait_run(client, run_id: str, states=("done", "failed", "stopped"), timeout=900) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.predict(run_id, api_name="/run_status")
        if status["state"] in states:
            return status
        time.sleep(2)
    raise TimeoutError(f"run {run_id} did not reach {states}")
