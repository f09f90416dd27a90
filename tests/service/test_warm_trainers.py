"""Steps handed to processes started ahead of them (backend/runs/warm_trainers.py):
real subprocesses, a job module that reports where and how it ran, and the
JobManager with the fake trainer run as a module. The real xtuner path is the
shared demo run (tests/app/test_warm_trainers_app.py)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.runs.executor import LocalExecutor
from backend.runs.jobs import JobManager
from backend.runs.registry import RunRegistry
from backend.runs.spec import LATEST_CHECKPOINT, JobSpec, Step
from backend.runs.step_runner import prepare_devices
from backend.runs.warm_trainers import WarmTrainers
from backend.xtuner.trainer_side.warm_trainer import READY
from tests.support.jobs import group_alive, wait_for, wait_iter
from tests.support.polling import poll_until

pytestmark = pytest.mark.processes

REPO = Path(__file__).resolve().parents[2]
REPORT = "tests.support.fakes.report_job"
FAKE_TRAIN = "tests.support.fakes.fake_train"
FAKE_CONVERT = "tests.support.fakes.fake_convert"


def base_env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in extra.items()}}


@pytest.fixture
def warm(tmp_path):
    trainers = WarmTrainers(tmp_path / "logs" / "warm.log",
                            modules=(REPORT, FAKE_TRAIN, FAKE_CONVERT), preload=("json",))
    yield trainers
    trainers.close()


def report_argv(*args) -> list[str]:
    return [sys.executable, "-m", REPORT, *args]


def test_a_waiting_process_runs_the_step_as_a_cold_start_would(warm, tmp_path):
    env = base_env(REPORT_VAR="from-the-run", REPORT_EXIT=3)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = run_dir / "run.log"
    warm.prepare(sys.executable, env)
    process = warm.take(report_argv("cfg.py", "--work-dir", "w"), cwd=run_dir, env=env,
                        log_file=log)
    assert process is not None
    assert process.wait(timeout=60) == 3
    text = log.read_text()
    assert "[studio] warm start: tests.support.fakes.report_job" in text
    assert f"cwd={run_dir}" in text
    assert "args=['cfg.py', '--work-dir', 'w']" in text
    assert "var=from-the-run" in text and "group_leader=True" in text
    assert "to stderr" in text
    # The waiting process's own start-up output stays in its own log.
    assert READY in (tmp_path / "logs" / "warm.log").read_text() and READY not in text


def test_a_run_s_thread_count_goes_with_its_job_to_a_process_started_with_another(tmp_path):
    """A run's share of the cores is decided at its start: a process made
    ready with another count still serves it, and torch's pool (sized when
    the process imported torch) takes the run's count."""
    trainers = WarmTrainers(tmp_path / "warm.log", modules=(REPORT,), preload=("torch",))
    try:
        trainers.prepare(sys.executable, base_env(OMP_NUM_THREADS=1, MKL_NUM_THREADS=1))
        log = tmp_path / "run.log"
        process = trainers.take(report_argv(), cwd=tmp_path, log_file=log,
                                env=base_env(OMP_NUM_THREADS=3, MKL_NUM_THREADS=3))
        assert process is not None, "a thread count alone must not mean a cold start"
        assert process.wait(timeout=120) == 0
        text = log.read_text()
        assert "[studio] warm start" in text and "threads=3/3" in text
    finally:
        trainers.close()


def test_only_a_step_with_the_same_python_and_environment_is_served(warm, tmp_path):
    env = base_env(REPORT_VAR="a")
    warm.prepare(sys.executable, env)
    log = tmp_path / "run.log"
    assert warm.take(report_argv(), cwd=tmp_path, env=base_env(REPORT_VAR="b"),
                     log_file=log) is None
    assert warm.take([sys.executable, str(REPO / "tests/support/fakes/report_job.py")],
                     cwd=tmp_path, env=env, log_file=log) is None
    assert warm.take(["/usr/bin/python3", "-m", REPORT], cwd=tmp_path, env=env,
                     log_file=log) is None
    assert warm.take([sys.executable, "-m", "json.tool"], cwd=tmp_path, env=env,
                     log_file=log) is None
    assert warm.waiting_count() == 1
    process = warm.take(report_argv(), cwd=tmp_path, env=env, log_file=log)
    assert process is not None and process.wait(timeout=60) == 0
    assert "var=a" in log.read_text() and warm.waiting_count() == 0


def test_a_failing_step_leaves_its_traceback_in_the_run_log(warm, tmp_path):
    env = base_env(REPORT_RAISE=1)
    warm.prepare(sys.executable, env)
    log = tmp_path / "run.log"
    process = warm.take(report_argv(), cwd=tmp_path, env=env, log_file=log)
    assert process.wait(timeout=60) == 1
    assert "RuntimeError: the step failed on purpose" in log.read_text()


def test_a_module_that_fails_to_preload_is_the_job_s_to_report(tmp_path):
    warm = WarmTrainers(tmp_path / "warm.log", modules=(REPORT,),
                        preload=("no_such_module_for_the_test", "json"))
    try:
        env = base_env()
        warm.prepare(sys.executable, env)
        # The failed import is in the waiting process's log; it still waits.
        poll_until(lambda: READY in (tmp_path / "warm.log").read_text()
                   if (tmp_path / "warm.log").exists() else False)
        assert "No module named 'no_such_module_for_the_test'" in (
            tmp_path / "warm.log").read_text()
        process = warm.take(report_argv(), cwd=tmp_path, env=env, log_file=tmp_path / "run.log")
        assert process.wait(timeout=60) == 0
    finally:
        warm.close()


def test_a_dead_waiting_process_means_a_cold_start(warm, tmp_path):
    env = base_env(REPORT_VAR="cold")
    warm.prepare(sys.executable, env)
    waiting = warm.waiting_processes()[0]
    os.killpg(waiting.pid, signal.SIGKILL)
    waiting.wait(timeout=30)
    assert warm.take(report_argv(), cwd=tmp_path, env=env, log_file=tmp_path / "a.log") is None
    # Through the executor: started cold, and a new one is made ready.
    executor = LocalExecutor(warm)
    handle = executor.start(report_argv(), cwd=tmp_path, env=env, log_file=tmp_path / "b.log")
    assert executor.wait(handle) == 0
    text = (tmp_path / "b.log").read_text()
    assert "var=cold" in text and "warm start" not in text
    assert warm.waiting_count() == 1


def test_closing_lets_every_waiting_process_go(warm, tmp_path):
    warm.prepare(sys.executable, base_env(REPORT_VAR="1"))
    warm.prepare(sys.executable, base_env(REPORT_VAR="2"))
    warm.prepare(sys.executable, base_env(REPORT_VAR="2"))  # one per environment
    waiting = warm.waiting_processes()
    assert len(waiting) == 2
    warm.close()
    assert all(p.poll() is not None for p in waiting)
    assert not any(group_alive(p.pid) for p in waiting)
    warm.prepare(sys.executable, base_env())  # closed: starts nothing more
    assert warm.waiting_count() == 0


def test_a_server_that_dies_takes_its_waiting_processes_with_it(tmp_path):
    """The pipe closes with the server, however it ends: no idle process outlives it."""
    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from backend.runs.warm_trainers import WarmTrainers\n"
        f"w = WarmTrainers(Path({str(tmp_path / 'warm.log')!r}), modules=({REPORT!r},), "
        "preload=('json',))\n"
        "w.prepare(sys.executable, dict(os.environ))\n"
        "print(w.waiting_processes()[0].pid, flush=True)\n"
        "time.sleep(600)\n")
    server = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=base_env(),
                              stdout=subprocess.PIPE, start_new_session=True)
    try:
        waiting_pid = int(server.stdout.readline())
        poll_until(lambda: READY in (tmp_path / "warm.log").read_text()
                   if (tmp_path / "warm.log").exists() else False)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        poll_until(lambda: not group_alive(waiting_pid), message="the waiting process outlived its server")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def module_spec(root: Path, run_id: str, **env) -> JobSpec:
    """The fake trainer and converter run as modules (``python -m``), as xtuner's are."""
    run_dir = root / "runs" / run_id
    train = [sys.executable, "-m", FAKE_TRAIN, "cfg.py", "--work-dir", str(run_dir / "train")]
    convert = [sys.executable, "-m", FAKE_CONVERT, "cfg.py", LATEST_CHECKPOINT,
               str(run_dir / "hf_finetuned")]
    return JobSpec(run_id=run_id, dataset_id="ds-x", run_dir=run_dir,
                   steps=[Step("train", train), Step("convert", convert, "converting")],
                   max_iters=int(env.get("FAKE_ITERS", 6)),
                   env={"PYTHONPATH": str(REPO), **{k: str(v) for k, v in env.items()}})


def test_runs_through_the_job_manager_start_warm_and_stop_as_before(warm, tmp_path):
    manager = JobManager(RunRegistry(tmp_path / "studio.db"), stop_grace_s=2,
                         executor=LocalExecutor(warm))
    try:
        prepare_devices(manager.executor, manager.pool.devices, sys.executable,
                        module_spec(tmp_path, "x").env)
        assert warm.waiting_count() == 1
        manager.submit(module_spec(tmp_path, "run-a"))
        snap = wait_for(manager, "run-a", {"done", "failed"})
        assert snap["state"] == "done", snap["error"]
        log = (tmp_path / "runs/run-a/run.log").read_text()
        assert log.count("[studio] warm start") == 2  # the train step and the conversion
        converted = tmp_path / "runs/run-a/hf_finetuned/converted_from.txt"
        assert converted.read_text().endswith("iter_6.pth")
        # A warm-started trainer is stopped like any: it saves where it is and exits.
        # (Its environment differs from run-a's: a process is made ready for it first.)
        slow = module_spec(tmp_path, "run-b", FAKE_ITERS=400, FAKE_SLEEP=0.05)
        prepare_devices(manager.executor, manager.pool.devices, sys.executable, slow.env)
        manager.submit(slow)
        wait_iter(manager, "run-b", 3)
        manager.stop("run-b")
        snap = wait_for(manager, "run-b", {"stopped", "done", "failed"})
        assert snap["state"] == "stopped", snap
        assert "Stop requested: saved at" in (tmp_path / "runs/run-b/run.log").read_text()
        assert "[studio] warm start: tests.support.fakes.fake_train" in (
            tmp_path / "runs/run-b/run.log").read_text()
    finally:
        manager.shutdown()
        manager.executor.close()
    assert warm.waiting_count() == 0  # closing let the last waiting one go



def test_the_bench_never_waits_forever_on_a_process_that_died_before_its_log(tmp_path):
    """bench/suite/procs.py run_warm reads the step's output from a FIFO the
    process opens after its imports: killed before that, the read still ends."""
    import threading

    from bench.suite import procs

    warm = WarmTrainers(tmp_path / "warm.log", modules=(REPORT,),
                        preload=("tests.support.fakes.slow_import",))
    try:
        env = base_env()
        warm.prepare(sys.executable, env)
        waiting = warm.waiting_processes()[0]
        threading.Timer(1.0, os.killpg, args=(waiting.pid, signal.SIGKILL)).start()
        started = time.monotonic()
        result = procs.run_warm(warm, report_argv(), env, tmp_path / "bench.log", timeout_s=60)
        assert result.rc == -signal.SIGKILL and time.monotonic() - started < 20
    finally:
        warm.close()
