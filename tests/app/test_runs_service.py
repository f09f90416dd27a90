"""Issue 3 through the real app: queue, closed clients, stop/resume, crash.

Real xtuner training on the demo profile with a small dataset, real SQLite,
real subprocesses; the server itself is killed with SIGKILL in one test.
"""
import json
import os
from pathlib import Path
import signal
import time

import pytest
from gradio_client import Client, handle_file

from backend.compare.adapters import write_adapters
from backend.runs.progress import read_losses
from tests.support.app_server import running_app, wait_iter, wait_models_ready, wait_run
from tests.support.polling import LONG, poll_until
from tests.support.images import make_star_image
from tests.support.app_server import models_dir
from tests.support.jobs import group_alive
from tests.support.checkpoints import holds_optimizer, saved_iterations

pytestmark = [pytest.mark.slow, pytest.mark.processes]

QA = [{"question": "What is drawn?", "answer": "A yellow star on purple."}]
# Enough iterations to stop in the middle, checkpoints often enough to resume.
SMALL = json.dumps({"save_steps": 5, "evaluation_freq": 1000})


def app_args():
    return ("--profile", "demo", "--models-dir", str(models_dir()))


def build(client, image, repeats):
    return client.predict(handle_file(str(image)), json.dumps(QA), repeats,
                          api_name="/build_dataset")["dataset_id"]


def test_queue_closed_clients_stop_and_resume(tmp_path):
    image = make_star_image(tmp_path / "star.png")
    with running_app(tmp_path / "work", *app_args()) as (url, _server):
        first_client = Client(url, verbose=False)
        wait_models_ready(first_client)
        ds = build(first_client, image, 30)
        # The second run is longer, so that it is surely stopped mid-way.
        ds_long = build(first_client, image, 60)
        one = first_client.predict(ds, SMALL, api_name="/start_training")
        # Start again with the same options: the same run, not a copy.
        again = first_client.predict(ds, SMALL, api_name="/start_training")
        assert again["run_id"] == one["run_id"] and again["already_started"]
        two = first_client.predict(ds_long, SMALL, api_name="/start_training")
        assert one["state"] == "running" and one["queue_position"] is None
        assert two["state"] == "queued" and two["queue_position"] == 1
        # Loss changes from one iteration to the next.
        status = wait_iter(first_client, one["run_id"], 3)
        losses = [loss for _, loss in status["losses"]]
        assert len(losses) >= 2 and losses[-1] != losses[-2]
        # Every client goes away; the run does not care: it trains on, as its
        # own files show, and ends done.
        first_client.close()
        del first_client
        train_one = tmp_path / "work/runs" / one["run_id"] / "train"
        seen = len(read_losses(train_one))
        poll_until(lambda: len(read_losses(train_one)) > seen, LONG, interval=0.5,
                   message="training went on without clients")
        client = Client(url, verbose=False)
        done = wait_run(client, one["run_id"])
        assert done["state"] == "done", done["error"]
        listed = {r["run_id"]: r for r in client.predict(api_name="/list_runs")}
        assert listed[one["run_id"]]["state"] == "done"
        assert listed[one["run_id"]]["final_loss"] is not None
        # Its final checkpoint has no Adam's state (a finished run never resumes);
        # the save_steps one before it keeps it; the adapters Compare attaches
        # and pth_to_hf (the run is done: converted) read the lean one.
        *earlier, final = saved_iterations(train_one)
        assert earlier and final == done["max_iters"], (earlier, final, done)
        assert not holds_optimizer(train_one / f"iter_{final}.pth")
        assert all(holds_optimizer(train_one / f"iter_{n}.pth") for n in earlier)
        adapters = write_adapters(train_one / f"iter_{final}.pth", tmp_path / "adapters",
                                  llm_path=tmp_path / "llm", visual_encoder_path=tmp_path / "clip",
                                  llm_lora_alpha=16, visual_lora_alpha=16)
        assert (adapters / "llm_adapter" / "adapter_model.safetensors").is_file()
        # The queued run started when the first ended; stop it mid-way. The
        # trainer saves where it stopped (SaveOnStopHook), between two of the
        # every-5-iterations checkpoints, so nothing trained is lost.
        status = wait_iter(client, two["run_id"], 12)
        assert status["state"] == "running", status
        train = tmp_path / "work/runs" / two["run_id"] / "train"
        pid = _pid_of(tmp_path, two["run_id"])
        started = time.time()
        stopped = client.predict(two["run_id"], api_name="/stop_training")
        # The request answers within its bound (stop_grace_s + 5 = 10 s, with
        # room for a loaded machine): stopped, or saying it is still saving.
        assert time.time() - started < 30
        if stopped["state"] != "stopped":
            assert stopped["state"] == "stopping" and stopped["stopping"], stopped
            stopped = wait_run(client, two["run_id"])
        assert stopped["state"] == "stopped", stopped
        assert not group_alive(pid)
        saved = saved_iterations(train)[-1]
        assert saved >= status["iter"], (saved, status["iter"])
        assert holds_optimizer(train / f"iter_{saved}.pth")  # Resume continues Adam from it
        assert (train / "last_checkpoint").read_text().strip().endswith(f"iter_{saved}.pth")
        log = (tmp_path / "work/runs" / two["run_id"] / "run.log").read_text()
        assert f"Stop requested: training ends after iteration {saved}" in log
        if saved % 5:  # not one CheckpointHook saved anyway
            assert f"Stop requested: saving checkpoint at {saved} iterations" in log
        resumed = client.predict(two["run_id"], api_name="/resume_training")
        assert resumed["state"] in ("queued", "running")
        final = wait_run(client, two["run_id"])
        assert final["state"] == "done", final["error"]
        log = (tmp_path / "work/runs" / two["run_id"] / "run.log").read_text()
        assert "--resume" in log and f"iter_{saved}.pth" in log
        assert f"Advance dataloader {saved} steps" in log
        assert not holds_optimizer(train / f"iter_{saved_iterations(train)[-1]}.pth")


def _pid_of(tmp_path, run_id):
    import sqlite3

    with sqlite3.connect(tmp_path / "work" / "studio.db") as db:
        return db.execute("SELECT pid FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]


def holders_of(path) -> list[int]:
    """Processes whose stdout is ``path`` (a waiting warm trainer writes to its log)."""
    found = []
    for fd in Path("/proc").glob("[0-9]*/fd/1"):
        try:
            if os.readlink(fd) == str(path):
                found.append(int(fd.parts[2]))
        except OSError:
            continue
    return found


def test_server_killed_during_training_never_leaves_running_forever(tmp_path):
    """With warm trainers (the GPU default): the victim trains in a process
    started ahead of it, which outlives the server as a cold one does; the
    process waiting for the next run goes with the server."""
    image = make_star_image(tmp_path / "star.png")
    work = tmp_path / "work"
    warm_log = work / "logs" / "warm-trainers.log"
    with running_app(work, *app_args(), "--warm-trainers", "on") as (url, server):
        client = Client(url, verbose=False)
        wait_models_ready(client)
        ds = build(client, image, 2)
        finished = client.predict(ds, "{}", api_name="/start_training")
        assert wait_run(client, finished["run_id"])["state"] == "done"
        ds_long = build(client, image, 60)
        victim = client.predict(ds_long, SMALL, api_name="/start_training")
        wait_iter(client, victim["run_id"], 2)
        trainer_pid = _pid_of(tmp_path, victim["run_id"])
        victim_log = work / "runs" / victim["run_id"] / "run.log"
        assert "[studio] warm start: xtuner.tools.train" in victim_log.read_text()
        poll_until(lambda: holders_of(warm_log), message="a trainer waiting for the next run")
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    poll_until(lambda: not holders_of(warm_log), timeout=LONG,
               message=lambda: f"waiting trainers outlived the server: {holders_of(warm_log)}")
    try:
        with running_app(work, *app_args(), "--warm-trainers", "on") as (url, _server):
            client = Client(url, verbose=False)
            status = client.predict(victim["run_id"], api_name="/run_status")
            # Re-attached (its trainer survived in its own session) or failed.
            assert status["state"] in ("running", "failed", "queued", "converting", "done")
            final = wait_run(client, victim["run_id"])
            assert final["state"] in ("done", "failed")
            # A run finished before the crash still compares.
            answers = client.predict(finished["run_id"], handle_file(str(image)),
                                     QA[0]["question"], api_name="/compare")
            assert answers["finetuned"] and answers["base"]
    finally:
        if group_alive(trainer_pid):
            os.killpg(trainer_pid, signal.SIGKILL)
