"""The slot scheduler with real fake-trainer processes and real SQLite: several
runs at once, memory admission on fake GPUs, max active per user, stop of one
of several, restart with several trainers left behind, an out-of-memory that
names its neighbours."""
import dataclasses

import pytest

from backend.runs.jobs import JobManager
from backend.runs.registry import RunRegistry
from backend.runs.slots import DevicePool
from backend.runs.spec import FREE_PORT
from backend.runs.status import run_status
from backend.runs.thread_share import ThreadShare
from backend.training.memory import GIB
from tests.support.jobs import (FakeGpus, group_alive, left_behind, spec_for, wait_for,
                                wait_iter)
from tests.support.polling import poll_until

pytestmark = pytest.mark.processes

LONG = {"FAKE_ITERS": 4000, "FAKE_SLEEP": 0.05}  # trains until the test stops it


def manager(tmp_path, pool, **kwargs):
    return JobManager(RunRegistry(tmp_path / "studio.db"), max_queue=8, stop_grace_s=2,
                      pool=pool, tick_s=0.2, **kwargs)


def run(tmp_path, run_id, owner="", memory=0, count=1, **env):
    return dataclasses.replace(spec_for(tmp_path, run_id, **env), owner=owner,
                               memory_bytes=memory, device_count=count)


def stop_all(jobs, *run_ids):
    for run_id in run_ids:
        jobs.stop(run_id, keep_progress=False)


def test_two_slots_train_two_runs_at_once_and_a_third_waits_its_turn(tmp_path):
    jobs = manager(tmp_path, DevicePool.for_cpu(2))
    try:
        first = jobs.submit(run(tmp_path, "run-1", **LONG))
        second = jobs.submit(run(tmp_path, "run-2", **LONG))
        third = jobs.submit(run(tmp_path, "run-3", FAKE_ITERS=3))
        # Placed at submit, whatever the threads do: running on the CPU, or waiting first.
        assert (first["state"], first["device"], first["queue_position"]) == ("running", "cpu",
                                                                              None)
        assert (second["state"], second["device"]) == ("running", "cpu")
        assert (third["state"], third["device"], third["queue_position"]) == ("queued", "", 1)
        # Both train: each its own process, each making progress.
        wait_iter(jobs, "run-1", 2)
        wait_iter(jobs, "run-2", 2)
        pids = [jobs.registry.get(r)["pid"] for r in ("run-1", "run-2")]
        assert pids[0] != pids[1] and all(group_alive(p) for p in pids)
        assert jobs.snapshot("run-3")["state"] == "queued"  # neither long run can end by itself
        assert sorted(jobs.training_runs()) == ["run-1", "run-2"]
        listed = {r["run_id"]: r for r in jobs.list_runs()}
        assert listed["run-1"]["device"] == "cpu" and listed["run-3"]["device"] == ""

        # Stopping one stops only that one; the waiting run takes its slot.
        jobs.stop("run-1", keep_progress=False)
        assert wait_for(jobs, "run-1", {"stopped"})["state"] == "stopped"
        assert not group_alive(pids[0]) and group_alive(pids[1])
        assert jobs.snapshot("run-2")["state"] == "running"
        assert wait_for(jobs, "run-3", {"done", "failed"})["state"] == "done"
        stop_all(jobs, "run-2")
    finally:
        jobs.shutdown()


def test_a_second_run_of_a_student_waits_and_a_classmate_takes_the_free_slot(tmp_path):
    jobs = manager(tmp_path, DevicePool.for_cpu(2, max_active_per_user=1))
    try:
        for run_id in ("run-a1", "run-a2", "run-a3"):
            jobs.submit(run(tmp_path, run_id, "alice", **LONG))
        jobs.submit(run(tmp_path, "run-b1", "bob", **LONG))
        # Alice came first with three runs; her second did not take the free slot.
        assert [jobs.snapshot(r)["state"] for r in ("run-a1", "run-b1", "run-a2", "run-a3")] \
            == ["running", "running", "queued", "queued"]
        assert [jobs.queue_position(r) for r in ("run-a2", "run-a3")] == [1, 2]
        jobs.stop("run-a1", keep_progress=False)
        assert wait_for(jobs, "run-a2", {"running"})["device"] == "cpu"
        assert jobs.snapshot("run-a3")["queue_position"] == 1
        stop_all(jobs, "run-a3", "run-a2", "run-b1")
    finally:
        jobs.shutdown()


def test_the_queue_is_told_when_the_first_of_several_runs_frees_its_slot(tmp_path):
    jobs = manager(tmp_path, DevicePool.for_cpu(2))
    try:
        # Same pace, the second half as long: its slot frees first.
        jobs.submit(run(tmp_path, "run-long", **LONG))
        jobs.submit(run(tmp_path, "run-short", FAKE_ITERS=2000, FAKE_SLEEP=0.05))
        for run_id in ("run-q1", "run-q2"):
            jobs.submit(run(tmp_path, run_id, FAKE_ITERS=3))
        paced = lambda run_id: (s := run_status(jobs, run_id))["eta_s"] and s  # noqa: E731
        long, short = (poll_until(lambda r=r: paced(r)) for r in ("run-long", "run-short"))
        first, second = run_status(jobs, "run-q1"), run_status(jobs, "run-q2")
        # Not behind the first run placed (one slot at a time): behind the one ending first.
        assert short["eta_s"] <= first["estimated_start_s"] < long["eta_s"]
        assert first["estimated_start_s"] <= second["estimated_start_s"] < long["eta_s"]
        stop_all(jobs, "run-q1", "run-q2", "run-long", "run-short")
    finally:
        jobs.shutdown()


def test_each_gpu_run_takes_its_threads_from_the_cores_running_runs_leave(tmp_path):
    """12 cores, at most 8 a run: the first run gets 8, the second the 4 left,
    a third the floor of 1; when the first ends, the next gets what the two
    still running leave (12 - 4 - 1 = 7)."""
    gpus = FakeGpus(tmp_path, {0: 80 * GIB})
    jobs = manager(tmp_path, DevicePool.for_gpus({0: 80 * GIB}, runs_per_device=3),
                   memory=gpus, thread_share=ThreadShare(cores=12))
    try:
        def threads_of(name):
            declared = poll_until(lambda: {e["run_id"]: e for e in gpus.declared()}.get(name),
                                  message=f"{name} loaded")
            return declared["threads"]

        for name in ("run-1", "run-2", "run-3"):
            # spec.env says 1 (TrainingService's): the run's share replaces it.
            jobs.submit(run(tmp_path, name, memory=GIB, FAKE_GPU_BYTES=GIB,
                            OMP_NUM_THREADS=1, **LONG))
            assert threads_of(name) == {"run-1": "8", "run-2": "4", "run-3": "1"}[name]
        jobs.submit(run(tmp_path, "run-4", memory=GIB, FAKE_GPU_BYTES=GIB, **LONG))
        assert jobs.snapshot("run-4")["state"] == "queued"
        jobs.stop("run-1", keep_progress=False)
        assert threads_of("run-4") == "7"
        stop_all(jobs, "run-2", "run-3", "run-4")
    finally:
        jobs.shutdown()


def test_a_run_over_two_gpus_holds_its_threads_on_each(tmp_path):
    """16 cores: a run on two GPUs (a process on each) gets 8 a process and
    holds all 16; a run after it, on the third GPU, gets the floor of 1."""
    free = {0: 80 * GIB, 1: 80 * GIB, 2: 80 * GIB}
    gpus = FakeGpus(tmp_path, free)
    jobs = manager(tmp_path, DevicePool.for_gpus(free), memory=gpus,
                   thread_share=ThreadShare(cores=16))
    try:
        jobs.submit(run(tmp_path, "run-wide", memory=GIB, count=2, FAKE_GPU_BYTES=GIB, **LONG))
        jobs.submit(run(tmp_path, "run-next", "bob", memory=GIB, FAKE_GPU_BYTES=GIB, **LONG))
        declared = poll_until(lambda: (d := {e["run_id"]: e for e in gpus.declared()}).keys()
                              >= {"run-wide", "run-next"} and d, message="both loaded")
        assert declared["run-wide"]["gpus"] == [0, 1] and declared["run-wide"]["threads"] == "8"
        assert declared["run-next"]["threads"] == "1"
        stop_all(jobs, "run-wide", "run-next")
    finally:
        jobs.shutdown()


def test_runs_start_where_fake_gpus_have_room_and_take_their_placement_with_them(tmp_path):
    """Two fake 30 GiB GPUs, runs of 10 GiB (12 GiB with the margin): two fit on
    each; the fifth waits until one ends. Each trainer sees the GPU it was placed
    on, not one fixed when the run was submitted."""
    gpus = FakeGpus(tmp_path, {0: 30 * GIB, 1: 30 * GIB})
    jobs = manager(tmp_path, DevicePool.for_gpus({0: 30 * GIB, 1: 30 * GIB}), memory=gpus)
    names = [f"run-{i}" for i in range(5)]
    try:
        for name in names:
            # spec.env as a submit on another machine baked it: the placement wins.
            jobs.submit(run(tmp_path, name, memory=10 * GIB, FAKE_GPU_BYTES=10 * GIB,
                            CUDA_VISIBLE_DEVICES="7", **LONG))
        # A placement may come a tick after the submit (a trainer loading while
        # another is placed): wait for the placements, not at submit.
        devices = poll_until(
            lambda: all((d := {n: jobs.snapshot(n)["device"] for n in names})[n]
                        for n in names[:4]) and d, message="four runs placed")
        assert sorted(devices[n] for n in names[:4]) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
        assert devices["run-4"] == "" and jobs.queue_position("run-4") == 1
        # Once all four have taken their memory, still no room for the fifth.
        poll_until(lambda: len(gpus.declared()) == 4, message="four trainers loaded")
        poll_until(lambda: not jobs.starting_gpus(), message="four trainers training")
        assert jobs.snapshot("run-4")["state"] == "queued"
        seen = {entry["run_id"]: entry for entry in gpus.declared()}
        for name in names[:4]:
            assert seen[name]["gpus"] == [int(devices[name][-1])] and seen[name]["nproc"] == "1"
        jobs.stop("run-1", keep_progress=False)
        assert wait_for(jobs, "run-4", {"running"})["device"] == devices["run-1"]
        stop_all(jobs, "run-0", "run-2", "run-3", "run-4")
    finally:
        jobs.shutdown()


def test_a_loaded_but_starting_trainer_does_not_count_twice(tmp_path):
    """One fake 26 GiB GPU, runs of 10 GiB (12 GiB with the margin). The first
    trainer has taken its 10 GiB and not yet logged an iteration: counted with
    its whole estimate on top of the measure, the second run (12 GiB needed,
    16 GiB free) would wait; counted with what it has still to take (2 GiB),
    it starts."""
    gpus = FakeGpus(tmp_path, {0: 26 * GIB})
    jobs = manager(tmp_path, DevicePool.for_gpus({0: 26 * GIB}), memory=gpus)
    hold = tmp_path / "let-the-first-train"
    try:
        jobs.submit(run(tmp_path, "run-a", memory=10 * GIB, FAKE_GPU_BYTES=10 * GIB,
                        FAKE_HOLD_AFTER_LOAD=str(hold), **LONG))
        poll_until(lambda: len(gpus.declared()) == 1, message="the first trainer loaded")
        assert jobs.starting_gpus() == {0}
        jobs.submit(run(tmp_path, "run-b", memory=10 * GIB, FAKE_GPU_BYTES=10 * GIB, **LONG))
        assert wait_for(jobs, "run-b", {"running"})["device"] == "cuda:0"
        assert jobs.starting_gpus() == {0}  # run-a has still not trained
        stop_all(jobs, "run-a", "run-b")
    finally:
        hold.touch()  # a held trainer never ends on its own
        jobs.shutdown()


def test_a_two_gpu_run_takes_two_whole_gpus_and_its_own_port(tmp_path):
    gpus = FakeGpus(tmp_path, {0: 80 * GIB, 1: 80 * GIB, 2: 80 * GIB})
    jobs = manager(tmp_path, DevicePool.for_gpus({i: 80 * GIB for i in range(3)}),
                   memory=gpus)
    try:
        for name in ("run-p", "run-q"):
            spec = run(tmp_path, name, memory=GIB, count=2, **LONG)
            spec.steps[0] = dataclasses.replace(
                spec.steps[0], argv=spec.steps[0].argv + [f"--master_port={FREE_PORT}"])
            jobs.submit(spec)
        assert jobs.snapshot("run-p")["device"] == "cuda:0,cuda:1"
        assert jobs.snapshot("run-q")["state"] == "queued"  # one whole GPU is left, not two
        poll_until(lambda: gpus.declared(), message="run-p loaded")
        seen = gpus.declared()[0]
        assert seen["gpus"] == [0, 1] and seen["nproc"] == "2"
        assert f"--master_port={seen['port']}" in seen["argv"] and seen["port"].isdigit()
        stop_all(jobs, "run-q", "run-p")
    finally:
        jobs.shutdown()


def test_out_of_memory_on_a_shared_gpu_names_the_runs_beside_it(tmp_path):
    jobs = manager(tmp_path, DevicePool.for_gpus({0: 80 * GIB}, runs_per_device=2))
    try:
        jobs.submit(run(tmp_path, "run-big", **LONG))
        jobs.submit(run(tmp_path, "run-oom", FAKE_FAIL_AT=3))  # raises CUDA out of memory
        snap = wait_for(jobs, "run-oom", {"failed", "done"})
        assert snap["state"] == "failed"
        assert "ran out of GPU memory (CUDA out of memory) on cuda:0" in snap["error"]
        assert "shared cuda:0 with run-big" in snap["error"]
        assert "CUDA out of memory at iteration 3" in snap["error"]  # the log's own line
        stop_all(jobs, "run-big")
    finally:
        jobs.shutdown()


def test_a_restart_reattaches_every_trainer_left_behind_on_its_own_device(tmp_path):
    left = [left_behind(tmp_path, name, device="cpu", **LONG) for name in ("run-x", "run-y")]
    jobs = manager(tmp_path, DevicePool.for_cpu(2))
    try:
        jobs.reconcile(tmp_path / "runs")
        assert [jobs.snapshot(n)["state"] for n in ("run-x", "run-y")] == ["running"] * 2
        assert sorted(jobs.active_runs()) == ["run-x", "run-y"]
        waiting = jobs.submit(run(tmp_path, "run-new", FAKE_ITERS=3))
        assert waiting["state"] == "queued"
        wait_iter(jobs, "run-x", 2)
        state = jobs.snapshot("run-new")["state"]
        if all(orphan.poll() is None for _spec, orphan in left):  # both still held the CPU
            assert state == "queued"
        # Stop reaches the one asked for: it saves and ends; the other trains on.
        (x_spec, x), (y_spec, y) = left
        jobs.stop("run-x")
        assert wait_for(jobs, "run-x", {"stopped", "failed"})["state"] == "stopped"
        assert x.wait(timeout=60) == 0 and y.poll() is None
        assert not (y_spec.train_dir / "stop_requested").exists()
        assert wait_for(jobs, "run-new", {"done", "failed"})["state"] == "done"
        assert jobs.snapshot("run-y")["state"] == "running"
        jobs.stop("run-y", keep_progress=False)
        assert wait_for(jobs, "run-y", {"stopped"})["state"] == "stopped"
        assert y.wait(timeout=60) is not None
    finally:
        jobs.shutdown()
        for _spec, orphan in left:
            if orphan.poll() is None:
                orphan.kill()
            orphan.wait()


def test_app_flags_reach_the_pool_and_two_cpu_runs_train_at_once(tmp_path, monkeypatch):
    """--runs-per-device (and STUDIO_MAX_ACTIVE_PER_USER) through the app's own
    parse_settings and build_services, on the CPU."""
    from backend import services as services_module
    from backend.settings import parse_settings

    models = tmp_path / "models"
    (models / "llm").mkdir(parents=True)
    (models / "clip").mkdir()
    (models / "iter_2181.pth").write_bytes(b"x")
    monkeypatch.setattr(services_module, "_device", lambda: "cpu")
    monkeypatch.setenv("STUDIO_MAX_ACTIVE_PER_USER", "3")
    settings = parse_settings([
        "--work-dir", str(tmp_path), "--profile", "custom", "--llm", str(models / "llm"),
        "--visual-encoder", str(models / "clip"), "--pretrained-pth",
        str(models / "iter_2181.pth"), "--runs-per-device", "2"])
    built = services_module.build_services(settings)
    jobs = built.jobs
    try:
        assert (jobs.pool.devices, jobs.pool.slots, jobs.pool.max_active_per_user) == (
            ("cpu",), 2, 3)
        for name in ("run-1", "run-2"):
            jobs.submit(run(tmp_path, name, "alice", **LONG))
        wait_iter(jobs, "run-1", 2)
        wait_iter(jobs, "run-2", 2)
        assert jobs.training_runs() == {"run-1": "cpu", "run-2": "cpu"}
        stop_all(jobs, "run-1", "run-2")
    finally:
        built.close()
    for bad in (["--runs-per-device", "many"], ["--max-active-per-user", "0"]):
        with pytest.raises(SystemExit):  # argparse: a usage line, before anything starts
            parse_settings(bad)
