"""JobManager against a fake trainer: real subprocesses, real SQLite."""
import time

import pytest

from backend.runs.checkpoints import latest_checkpoint
from backend.runs.jobs import JobError, JobManager
from backend.runs.registry import RunRegistry
from tests.support.jobs import group_alive, left_behind, spec_for, wait_for, wait_iter
from tests.support.polling import poll_until

pytestmark = pytest.mark.processes

@pytest.fixture
def manager(tmp_path):
    m = JobManager(RunRegistry(tmp_path / "studio.db"), max_queue=2, stop_grace_s=2)
    yield m
    m.shutdown()


def test_run_goes_through_steps_to_done_with_progress(manager, tmp_path):
    manager.submit(spec_for(tmp_path, "run-a"))
    snap = wait_for(manager, "run-a", {"done", "failed"})
    assert snap["state"] == "done", snap["error"]
    assert snap["iter"] == snap["max_iters"] == 6
    losses = [loss for _, loss in snap["losses"]]
    assert len(losses) == 6 and len(set(losses)) == 6  # changes every iteration
    converted = tmp_path / "runs/run-a/hf_finetuned/converted_from.txt"
    assert converted.read_text().endswith("iter_6.pth")
    assert "Iter(train) [6/6]" in snap["log_tail"]


def test_eta_follows_the_iteration_pace_not_the_start_up(manager, tmp_path):
    # 2 s of "model loading", then 0.05 s per iteration for 400 iterations:
    # about 20 s to go, not (2 s / a few iterations) x 400.
    manager.submit(spec_for(tmp_path, "run-eta", FAKE_ITERS=400, FAKE_STARTUP=2))
    snap = wait_iter(manager, "run-eta", 3)
    assert snap["state"] == "running" and snap["eta_s"] is not None, snap
    assert snap["eta_s"] <= 0.05 * 400 * 1.01, snap["eta_s"]
    manager.stop("run-eta")
    wait_for(manager, "run-eta", {"stopped", "done"})


def test_training_holds_the_device_but_converting_does_not(manager, tmp_path):
    """Compare may load its models beside a conversion, never beside training."""
    manager.submit(spec_for(tmp_path, "run-t", FAKE_ITERS=20, FAKE_SLEEP=0.1,
                            FAKE_CONVERT_SLEEP=3))
    wait_for(manager, "run-t", {"running"})
    assert manager.training_run() == "run-t" and manager.active_run() == "run-t"
    wait_for(manager, "run-t", {"converting"})
    assert manager.training_run() is None and manager.active_run() == "run-t"
    wait_for(manager, "run-t", {"done"})
    assert manager.training_run() is None and manager.active_run() is None


def test_failure_ends_failed_with_the_logged_error(manager, tmp_path):
    manager.submit(spec_for(tmp_path, "run-f", FAKE_FAIL_AT=3))
    snap = wait_for(manager, "run-f", {"done", "failed"})
    assert snap["state"] == "failed"
    assert "CUDA out of memory at iteration 3" in snap["error"]


def test_second_run_waits_in_fifo_order_then_starts(manager, tmp_path):
    first = manager.submit(spec_for(tmp_path, "run-1", FAKE_SLEEP=0.3))
    # The device was free: the run has it at once, whether or not the worker
    # thread has woken up yet, and is not counted as waiting.
    assert first["state"] == "running" and first["queue_position"] is None
    second = manager.submit(spec_for(tmp_path, "run-2"))
    assert second["state"] == "queued" and second["queue_position"] == 1
    with pytest.raises(JobError, match="queue is full"):
        manager.submit(spec_for(tmp_path, "run-3"))
        manager.submit(spec_for(tmp_path, "run-4"))
    assert wait_for(manager, "run-1", {"done"})["state"] == "done"
    assert wait_for(manager, "run-2", {"done"})["state"] == "done"


def test_stop_kills_the_whole_group_then_resume_continues(manager, tmp_path):
    manager.submit(spec_for(tmp_path, "run-s", FAKE_ITERS=200, FAKE_SLEEP=0.1, FAKE_CHILD=1))
    wait_iter(manager, "run-s", 4)
    pid = manager.registry.get("run-s")["pid"]
    started = time.time()
    snap = manager.stop("run-s", keep_progress=False)
    # SIGTERM, SIGKILL after the 2 s grace: stop answers within its own bound
    # (2 s + the 7 s it waits), with room for a loaded machine.
    assert time.time() - started < 20
    assert snap["state"] == "stopped"
    assert not group_alive(pid)
    saved = snap["iter"] - snap["iter"] % 2
    spec = spec_for(tmp_path, "run-s", FAKE_ITERS=12, FAKE_SLEEP=0.01)
    manager._specs["run-s"].env = spec.env
    manager.resume("run-s")
    snap = wait_for(manager, "run-s", {"done", "failed"})
    assert snap["state"] == "done", snap["error"]
    log = (tmp_path / "runs/run-s/run.log").read_text()
    assert f"resumed from iteration {saved}" in log


def test_stop_saves_where_it_stopped_and_resume_continues_from_there(manager, tmp_path):
    manager.submit(spec_for(tmp_path, "run-k", FAKE_ITERS=400, FAKE_SLEEP=0.05))
    asked_at = wait_iter(manager, "run-k", 5)["iter"]
    snap = manager.stop("run-k")
    if snap["state"] != "stopped":  # a loaded machine: still saving when stop answered
        assert snap["state"] == "stopping" and snap["stopping"], snap
    snap = wait_for(manager, "run-k", {"stopped", "done", "failed"})
    assert snap["state"] == "stopped", snap
    assert not snap["stopping"]
    log = (tmp_path / "runs/run-k/run.log").read_text()
    stopped_at = int(log.split("Stop requested: saved at ")[1].split()[0])
    # Saved at the iteration the stop came in, not at the last even one.
    assert asked_at <= stopped_at <= asked_at + 5
    train = tmp_path / "runs/run-k/train"
    assert latest_checkpoint(train).name == f"iter_{stopped_at}.pth"
    manager._specs["run-k"].env = spec_for(tmp_path, "run-k", FAKE_ITERS=30,
                                           FAKE_SLEEP=0.01).env
    manager.resume("run-k")
    snap = wait_for(manager, "run-k", {"done", "failed"})
    assert snap["state"] == "done", snap["error"]
    assert not (train / "stop_requested").exists()
    log = (tmp_path / "runs/run-k/run.log").read_text()
    assert f"resumed from iteration {stopped_at}" in log


def test_a_trainer_that_does_not_save_in_time_is_killed(tmp_path):
    manager = JobManager(RunRegistry(tmp_path / "studio.db"), stop_grace_s=1, save_grace_s=2)
    try:
        manager.submit(spec_for(tmp_path, "run-i", FAKE_ITERS=1000, FAKE_SLEEP=0.05,
                                FAKE_IGNORE_STOP="1", FAKE_CHILD="1"))
        wait_iter(manager, "run-i", 2)
        pid = manager.registry.get("run-i")["pid"]
        snap = manager.stop("run-i")
        if snap["state"] != "stopped":  # still "saving" when stop() returned
            assert snap["stopping"] and snap["state"] == "stopping", snap
        snap = wait_for(manager, "run-i", {"stopped"})
        assert not group_alive(pid)
        assert "got SIGTERM" in (tmp_path / "runs/run-i/run.log").read_text()
    finally:
        manager.shutdown()


def test_restart_marks_orphaned_running_runs_failed(tmp_path):
    registry = RunRegistry(tmp_path / "studio.db")
    first = JobManager(registry)
    spec = spec_for(tmp_path, "run-r")
    spec.run_dir.mkdir(parents=True)
    spec.save()
    registry.add("run-r", "ds-x", "", {}, 6)
    registry.update("run-r", state="running", pid=999_999_9, started_at=time.time())
    first.shutdown()
    second = JobManager(RunRegistry(tmp_path / "studio.db"))
    second.reconcile(tmp_path / "runs")
    snap = second.snapshot("run-r")
    assert snap["state"] == "failed"
    assert "server stopped" in snap["error"]
    second.shutdown()


def test_a_run_that_outlived_a_restart_is_watched_and_blocks_new_ones(tmp_path):
    spec, orphan = left_behind(tmp_path, "run-o", FAKE_ITERS=20, FAKE_SLEEP=0.2)
    manager = JobManager(RunRegistry(tmp_path / "studio.db"))
    try:
        manager.reconcile(tmp_path / "runs")
        assert manager.snapshot("run-o")["state"] == "running"
        waiting = manager.submit(spec_for(tmp_path, "run-next"))
        assert waiting["state"] == "queued" and waiting["queue_position"] == 1
        # The orphan trains on (its progress is seen) and the next run still waits.
        wait_iter(manager, "run-o", 2)
        state = manager.snapshot("run-next")["state"]
        if orphan.poll() is None:  # it was still training when the state was read
            assert state == "queued"  # the device is busy
        orphan.wait()
        # The orphan finished training: its conversion is queued, then the next run.
        assert wait_for(manager, "run-o", {"done", "failed"})["state"] == "done"
        assert wait_for(manager, "run-next", {"done", "failed"})["state"] == "done"
    finally:
        manager.shutdown()


def test_a_run_stopped_just_before_a_restart_ends_stopped_not_failed(tmp_path):
    spec, orphan = left_behind(tmp_path, "run-p", FAKE_ITERS=500, FAKE_SLEEP=0.05)
    manager = JobManager(RunRegistry(tmp_path / "studio.db"))
    try:
        manager.reconcile(tmp_path / "runs")
        wait_iter(manager, "run-p", 1)
        # The old server had asked it to stop; it saves and exits after a restart.
        (spec.train_dir / "stop_requested").write_text("stop\n")
        orphan.wait(timeout=120)
        snap = wait_for(manager, "run-p", {"stopped", "failed", "done"})
        assert snap["state"] == "stopped", snap
        assert latest_checkpoint(spec.train_dir) is not None
    finally:
        manager.shutdown()


def test_resume_skips_a_checkpoint_cut_off_mid_save(tmp_path):
    """Stopping a run while mmengine writes iter_6.pth leaves a truncated
    file; mmengine names only completed saves in last_checkpoint."""
    from backend.runs.checkpoints import latest_checkpoint

    complete, cut_off = tmp_path / "iter_4.pth", tmp_path / "iter_6.pth"
    complete.write_bytes(b"x" * 100)
    cut_off.write_bytes(b"x" * 10)
    assert latest_checkpoint(tmp_path) == cut_off  # no record: by iteration number
    (tmp_path / "last_checkpoint").write_text(str(complete))
    assert latest_checkpoint(tmp_path) == complete
    complete.unlink()  # a record naming a deleted file falls back
    assert latest_checkpoint(tmp_path) == cut_off


def test_stop_while_the_trainer_starts_up_answers_stopping_then_stops(tmp_path):
    """The trainer checks the stop request only once it trains: until then
    the answer says "stopping", never "running"."""
    manager = JobManager(RunRegistry(tmp_path / "studio.db"), stop_grace_s=1)
    try:
        manager.submit(spec_for(tmp_path, "run-u", FAKE_ITERS=50, FAKE_STARTUP=8))
        poll_until(lambda: manager.registry.get("run-u")["pid"], message="trainer started")
        snap = manager.stop("run-u")
        assert snap["state"] == "stopping" and snap["stopping"], snap
        listed = {r["run_id"]: r for r in manager.list_runs()}
        assert listed["run-u"]["state"] == "stopping"
        snap = wait_for(manager, "run-u", {"stopped", "failed", "done"})
        assert snap["state"] == "stopped" and not snap["stopping"], snap
        assert "Stop requested: saved at 1" in (tmp_path / "runs/run-u/run.log").read_text()
    finally:
        manager.shutdown()


def test_concurrent_resumes_queue_a_run_once(manager, tmp_path):
    import threading

    manager.submit(spec_for(tmp_path, "run-busy", FAKE_ITERS=400, FAKE_SLEEP=0.05))
    manager.submit(spec_for(tmp_path, "run-c"))
    manager.stop("run-c")  # dropped from the queue: stopped, resumable
    assert manager.snapshot("run-c")["state"] == "stopped"
    barrier = threading.Barrier(3)
    outcomes = []

    def resume():
        barrier.wait()
        try:
            outcomes.append(manager.resume("run-c")["state"])
        except JobError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=resume) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("queued") == 1, outcomes
    assert all("Only a stopped or failed run can resume" in o for o in outcomes
               if o != "queued"), outcomes
    assert [s.run_id for s in manager._queue] == ["run-c"]
    assert manager.snapshot("run-c")["queue_position"] == 1
    manager.stop("run-busy", keep_progress=False)
    assert wait_for(manager, "run-c", {"done", "failed"})["state"] == "done"
