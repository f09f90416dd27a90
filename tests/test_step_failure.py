"""A killed trainer's error names the signal and, for SIGKILL, the likely
out-of-memory; real processes killed for real."""
import signal
import subprocess
import sys

import pytest

from backend import progress
from backend.jobs import JobManager, JobSpec, Step
from backend.run_registry import RunRegistry
from tests.test_jobs import wait_for

# A trainer that logs an unrelated line, then is killed by the given signal.
KILLED = ("import os, signal, sys; print('Iter(train) [ 3/60] loss: 1.2', flush=True); "
          "os.kill(os.getpid(), getattr(signal, sys.argv[1]))")


def killed_by(name: str) -> int:
    return subprocess.run([sys.executable, "-c", KILLED, name],
                          stdout=subprocess.DEVNULL).returncode


@pytest.mark.processes
def test_sigkill_names_the_signal_and_the_likely_out_of_memory(tmp_path):
    code = killed_by("SIGKILL")
    assert code == -signal.SIGKILL
    text = progress.step_failure("train", code, tmp_path / "run.log")
    assert "SIGKILL" in text and "out of memory" in text
    assert "code -9" not in text


@pytest.mark.processes
def test_another_signal_is_named_with_the_log(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("RuntimeError: CUDA error\n")
    text = progress.step_failure("train", killed_by("SIGTERM"), log)
    assert "SIGTERM" in text and "RuntimeError: CUDA error" in text
    assert "out of memory" not in text


def test_a_launcher_reporting_its_killed_child(tmp_path):
    text = progress.step_failure("train", 128 + signal.SIGKILL, tmp_path / "run.log")
    assert "SIGKILL" in text and "out of memory" in text


def test_a_plain_exit_code_is_reported_as_before(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("ValueError: bad config\n")
    assert progress.step_failure("convert", 2, log) == \
        "convert exited with code 2: ValueError: bad config"


@pytest.mark.processes
def test_the_run_error_of_a_trainer_killed_by_sigkill(tmp_path):
    manager = JobManager(RunRegistry(tmp_path / "studio.db"))
    try:
        run_dir = tmp_path / "runs" / "run-k"
        spec = JobSpec(run_id="run-k", dataset_id="ds", run_dir=run_dir, max_iters=60,
                       steps=[Step("train", [sys.executable, "-c", KILLED, "SIGKILL"])])
        manager.submit(spec)
        snap = wait_for(manager, "run-k", {"failed", "done"})
    finally:
        manager.shutdown()
    assert snap["state"] == "failed"
    assert snap["error"].startswith("train was killed by SIGKILL")
    assert "out of memory" in snap["error"] and "Iter(train)" not in snap["error"]
