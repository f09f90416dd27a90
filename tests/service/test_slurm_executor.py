"""JobManager through SlurmExecutor on a real one-node Slurm cluster
(scripts/slurm_local.sh, the ``slurm_cluster`` fixture): the fake trainer of
tests/support/fakes as each step's job."""
import dataclasses
import os
import subprocess
import time

import pytest

from backend.runs.class_board import board_rows
from backend.runs.jobs import JobManager
from backend.runs.registry import RunRegistry
from backend.runs.slots import DevicePool
from backend.runs.slurm.commands import SlurmOptions
from backend.runs.slurm.executor import SlurmExecutor
from backend.runs.slurm.shared_folder import SharedFolderError, check_shared_folder
from backend.runs.spec import stop_requested
from backend.runs.status import run_status
from tests.support.jobs import spec_for, wait_for, wait_iter
from tests.support.polling import poll_until

pytestmark = [pytest.mark.slurm, pytest.mark.processes]


@pytest.fixture
def cluster(slurm_cluster, tmp_path):
    """A JobManager that hands every step to the cluster, and its parts."""
    executor = SlurmExecutor(SlurmOptions(partition=slurm_cluster.partition, gres=""),
                             tmp_path / "slurm")
    registry = RunRegistry(tmp_path / "studio.db")
    manager = JobManager(registry, pool=DevicePool.for_cluster(), executor=executor,
                         stop_grace_s=2, save_grace_s=30)
    yield manager, executor, registry
    manager.shutdown()
    for run in registry.all():
        if run["job_id"]:
            subprocess.run(["scancel", run["job_id"]], check=False)


def test_each_step_is_a_job_recorded_with_its_id_and_node(cluster, slurm_cluster, tmp_path):
    manager, _executor, registry = cluster
    cluster_node = slurm_cluster.node
    manager.submit(spec_for(tmp_path, "run-a", FAKE_ITERS=4))
    job_ids = set()

    def seen_job():
        record = registry.get("run-a")
        if record["job_id"]:
            job_ids.add((record["step"], record["job_id"]))
        return record["state"] == "done"

    poll_until(seen_job, 120, message=lambda: str(registry.get("run-a")))
    record = registry.get("run-a")
    assert record["error"] == "" and record["device"] == cluster_node
    assert {step for step, _ in job_ids} <= {"train", "convert"} and len(job_ids) >= 1
    assert all(job_id.isdigit() for _, job_id in job_ids)
    log = (tmp_path / "runs" / "run-a" / "run.log").read_text()
    assert "Iter(train) [4/4]" in log  # the job's output went to the run's log
    assert (tmp_path / "runs" / "run-a" / "hf_finetuned").exists()


def test_a_failing_step_fails_the_run_with_its_exit_code(cluster, tmp_path):
    manager, _executor, registry = cluster
    manager.submit(spec_for(tmp_path, "run-f", FAKE_ITERS=6, FAKE_FAIL_AT=2))
    wait_for(manager, "run-f", ("failed",), timeout=120)
    error = registry.get("run-f")["error"]
    assert "train" in error and "exit" in error.lower(), error


def test_stop_saves_and_resume_is_a_new_job_from_the_checkpoint(cluster, slurm_cluster, tmp_path):
    manager, _executor, registry = cluster
    manager.submit(spec_for(tmp_path, "run-s", FAKE_ITERS=400, FAKE_SLEEP=0.1))
    wait_iter(manager, "run-s", 3, timeout=120)
    first_job = registry.get("run-s")["job_id"]
    # The board shows the node once squeue (read every few seconds) has seen the job run.
    poll_until(lambda: any(r.run_id == "run-s" and r.state == "running"
                           and r.device == slurm_cluster.node
                           for r in board_rows(manager, "cpu")), 30,
               message=lambda: str(board_rows(manager, "cpu")))
    manager.stop("run-s")
    snap = wait_for(manager, "run-s", ("stopped",), timeout=90)
    assert snap["iter"] >= 3
    train = tmp_path / "runs" / "run-s" / "train"
    assert list(train.glob("iter_*.pth")), "the stop saved no checkpoint"
    manager.resume("run-s")
    poll_until(lambda: registry.get("run-s")["job_id"] not in ("", first_job), 60)
    log = tmp_path / "runs" / "run-s" / "run.log"
    poll_until(lambda: "resumed from iteration" in log.read_text(), 120)
    manager.stop("run-s", keep_progress=False)
    wait_for(manager, "run-s", ("stopped",), timeout=90)


def test_a_run_waiting_for_the_cluster_is_queued_with_its_place_and_stop_cancels_it(
        cluster, tmp_path):
    manager, executor, registry = cluster
    cpus = os.cpu_count()
    # A time limit on the job before it: Slurm's backfill works out when ours starts.
    blocker = subprocess.run(["sbatch", "--parsable", f"--cpus-per-task={cpus}", "--time=10",
                              f"--output={tmp_path / 'blocker.log'}", "--wrap=sleep 600"],
                             capture_output=True, text=True, check=True).stdout.strip()
    try:
        poll_until(lambda: "RUNNING" in subprocess.run(
            ["squeue", "-h", "-j", blocker, "-o", "%T"], capture_output=True,
            text=True).stdout, 60)
        manager.submit(spec_for(tmp_path, "run-w", FAKE_ITERS=4))
        snap = poll_until(lambda: (s := manager.snapshot("run-w"))["queue_position"] and s, 60,
                          message=lambda: str(manager.snapshot("run-w")))
        assert snap["state"] == "queued" and snap["queue_position"] == 1
        assert registry.get("run-w")["job_id"].isdigit()
        # The page's expected start is Slurm's: when the blocker's 10 minutes end.
        status = poll_until(lambda: (s := run_status(manager, "run-w"))["estimated_start_s"]
                            and s, 60, message=lambda: str(run_status(manager, "run-w")))
        assert 400 < status["estimated_start_s"] <= 600, status["estimated_start_s"]
        # The class board's row: queued, its place, on no node yet.
        row = next(r for r in board_rows(manager, "cpu") if r.run_id == "run-w")
        assert row.state == "queued" and row.queue_position == 1, row
        manager.stop("run-w")
        wait_for(manager, "run-w", ("stopped",), timeout=60)
        job = registry.get("run-w")["job_id"]
        poll_until(lambda: job not in subprocess.run(["squeue", "-h", "-o", "%i"],
                                                     capture_output=True, text=True).stdout, 30)
        assert not list((tmp_path / "runs" / "run-w" / "train").glob("iter_*.pth"))
    finally:
        subprocess.run(["scancel", blocker], check=False)


def test_a_restarted_server_reattaches_to_the_job_and_finishes_the_run(slurm_cluster, tmp_path):
    """The job a server started goes on while the server is down; the next
    server finds it through the registry's job id and converts after it."""
    options = SlurmOptions(partition=slurm_cluster.partition, gres="")
    spec = spec_for(tmp_path, "run-r", FAKE_ITERS=30, FAKE_SLEEP=0.2)
    spec.run_dir.mkdir(parents=True)
    spec.save()
    registry = RunRegistry(tmp_path / "studio.db")
    registry.add("run-r", "ds-x", "", {}, spec.max_iters)
    before = SlurmExecutor(options, tmp_path / "slurm")  # the server that went away
    handle = before.start(spec.steps[0].argv, cwd=spec.run_dir,
                          env={**os.environ, **spec.env}, log_file=spec.log_file)
    registry.update("run-r", state="running", job_id=handle.job_id, step="train",
                    started_at=time.time(), device="slurm")
    poll_until(lambda: spec.log_file.exists() and "Iter(train)" in spec.log_file.read_text(), 120)
    after = JobManager(RunRegistry(tmp_path / "studio.db"), pool=DevicePool.for_cluster(),
                       executor=SlurmExecutor(options, tmp_path / "slurm"))
    try:
        after.reconcile(tmp_path / "runs")
        assert "run-r" in after.active_runs()
        wait_for(after, "run-r", ("done",), timeout=180)
        assert (spec.run_dir / "hf_finetuned").exists()
        assert not stop_requested(spec.train_dir)
    finally:
        after.shutdown()


def test_the_server_refuses_a_work_folder_jobs_cannot_see(slurm_cluster, tmp_path):
    options = SlurmOptions(partition=slurm_cluster.partition, gres="")
    assert check_shared_folder(SlurmExecutor(options, tmp_path / "slurm"), tmp_path)
    hidden = slurm_cluster.hidden_dir / f"work-{os.getpid()}-{time.time_ns()}"
    hidden.mkdir(parents=True)
    with pytest.raises(SharedFolderError, match="not visible from Slurm jobs"):
        check_shared_folder(SlurmExecutor(options, hidden / "slurm"), hidden)


def fake_models(root):
    models = root / "models"
    (models / "llm").mkdir(parents=True)
    (models / "clip").mkdir()
    (models / "iter_2181.pth").write_bytes(b"x")
    return ["--profile", "custom", "--llm", str(models / "llm"), "--visual-encoder",
            str(models / "clip"), "--pretrained-pth", str(models / "iter_2181.pth")]


def test_the_apps_flags_hand_runs_to_slurm(slurm_cluster, tmp_path, monkeypatch):
    from backend import services as services_module
    from backend.settings import parse_settings

    monkeypatch.setattr(services_module, "_device", lambda: "cpu")
    monkeypatch.setenv("STUDIO_SLURM_PARTITION", slurm_cluster.partition)
    settings = parse_settings(["--work-dir", str(tmp_path / "work"), "--executor", "slurm",
                               "--slurm-gres", "none", "--slurm-time", "30:00",
                               *fake_models(tmp_path)])
    built = services_module.build_services(settings)
    try:
        executor = built.jobs.executor
        assert isinstance(executor, SlurmExecutor)
        assert executor.options == SlurmOptions(partition=slurm_cluster.partition, gres="",
                                                time="30:00")
        assert built.jobs.pool.devices == ("slurm",)
        built.jobs.submit(spec_for(tmp_path / "work", "run-app", FAKE_ITERS=3))
        wait_for(built.jobs, "run-app", ("done",), timeout=120)
    finally:
        built.close()


def test_the_app_will_not_start_on_a_work_folder_jobs_cannot_see(slurm_cluster, tmp_path):
    """Through app.py: one sentence, no traceback."""
    import sys
    from pathlib import Path

    hidden = slurm_cluster.hidden_dir / f"app-{os.getpid()}-{time.time_ns()}"
    hidden.mkdir(parents=True)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(root / "app.py"), "--work-dir", str(hidden),
                           "--executor", "slurm", "--slurm-gres", "none",
                           "--slurm-partition", slurm_cluster.partition, *fake_models(tmp_path)],
                          cwd=root, capture_output=True, text=True, timeout=300,
                          start_new_session=True)
    assert done.returncode != 0
    assert "cannot start: the work folder" in done.stderr, done.stderr[-2000:]
    assert "not visible from Slurm jobs" in done.stderr and "Traceback" not in done.stderr


def test_gpus_asked_of_slurm_configure_cuda_training_on_the_nodes(slurm_cluster, tmp_path,
                                                                   monkeypatch):
    """A server without a GPU hands GPU runs to the cluster: the lesson's CUDA
    recipe ("auto" cannot measure the nodes), one task a GPU over --gpus-per-run;
    this CPU-only test cluster refuses GPU jobs, and the run says so in Slurm's words."""
    from backend import services as services_module
    from backend.settings import parse_settings
    from backend.training.launchers import ClusterGpuLauncher

    monkeypatch.setattr(services_module, "_device", lambda: "cpu")
    settings = parse_settings(["--work-dir", str(tmp_path / "work"), "--executor", "slurm",
                               "--slurm-partition", slurm_cluster.partition,
                               "--slurm-gres", "gpu:1", "--gpus-per-run", "2",
                               "--recipe", "auto", *fake_models(tmp_path)])
    built = services_module.build_services(settings)
    try:
        training = built.training
        assert isinstance(training.launcher, ClusterGpuLauncher)
        assert training.device == "cuda" and training.refusal is None
        assert training.launcher.recipe.name == "lesson" and training.world_size == 2
        spec = spec_for(tmp_path / "work", "run-gpu", FAKE_ITERS=3)
        spec.steps[0] = dataclasses.replace(spec.steps[0], tasks=2)
        built.jobs.submit(spec)
        failed = wait_for(built.jobs, "run-gpu", ("failed",), timeout=60)
        assert failed["error"].startswith("sbatch failed: sbatch: error: Invalid generic "
                                          "resource"), failed["error"]
    finally:
        built.close()
