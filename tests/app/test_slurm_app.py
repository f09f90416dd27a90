"""Issue 20 on the real demo profile: the whole flow through ``--executor slurm``
on a real one-node Slurm cluster (scripts/slurm_local.sh): train (a batch job
per step), stop and resume (a new job from the saved checkpoint), the server
killed while the resumed job runs and started again (it re-attaches through
the job id), then before/after answers reproduced through /compare.
"""
import json
import os
import signal
import sqlite3

import pytest
from gradio_client import Client, handle_file

from backend.compare.scoring import rouge_l
from tests.support.app_server import models_dir, running_app, wait_iter, wait_models_ready, \
    wait_run
from tests.support.images import make_star_image
from tests.support.polling import LONG, poll_until

pytestmark = [pytest.mark.slow, pytest.mark.processes, pytest.mark.slurm]

QA = {"question": "What shape is drawn in the middle?",
      "answer": "There is a big yellow star with five sharp points."}
# 1 Q&A x 600: long enough to stop in the middle (a demo iteration takes
# ~0.02 s), and trained well past what reproducing one answer needs.
REPEATS = 600
OPTIONS = json.dumps({"save_steps": 50, "evaluation_freq": 10_000})


def job_of(work, run_id) -> tuple[str, str]:
    with sqlite3.connect(work / "studio.db") as db:
        return db.execute("SELECT job_id, state FROM runs WHERE run_id = ?",
                          (run_id,)).fetchone()


def test_the_lesson_through_slurm_with_stop_resume_and_a_restart(slurm_cluster, tmp_path):
    image = make_star_image(tmp_path / "star.png")
    work = tmp_path / "work"
    args = ("--profile", "demo", "--models-dir", str(models_dir()), "--executor", "slurm",
            "--slurm-partition", slurm_cluster.partition, "--slurm-gres", "none")
    with running_app(work, *args) as (url, server):
        client = Client(url, verbose=False)
        wait_models_ready(client)
        built = client.predict(handle_file(str(image)), json.dumps([QA]), REPEATS,
                               api_name="/build_dataset")
        started = client.predict(built["dataset_id"], OPTIONS, api_name="/start_training")
        run_id = started["run_id"]
        status = wait_iter(client, run_id, 5)
        assert status["device"] == slurm_cluster.node, status
        first_job, _ = job_of(work, run_id)
        assert first_job.isdigit()

        stopped = client.predict(run_id, api_name="/stop_training")
        if stopped["state"] != "stopped":
            stopped = wait_run(client, run_id)
        assert stopped["state"] == "stopped", stopped["error"] + stopped["log_tail"]
        train = work / "runs" / run_id / "train"
        saved = max(int(p.stem.split("_")[1]) for p in train.glob("iter_*.pth"))
        assert 5 <= saved < stopped["max_iters"]

        resumed = client.predict(run_id, api_name="/resume_training")
        assert resumed["state"] in ("queued", "running"), resumed
        # The resumed job runs (a new job id, Slurm says RUNNING): the server goes down.
        poll_until(lambda: (job := job_of(work, run_id))[0] not in ("", first_job)
                   and job[1] == "running", LONG, interval=0.5)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()

    with running_app(work, *args) as (url, _server):
        client = Client(url, verbose=False)
        final = wait_run(client, run_id)
        assert final["state"] == "done", final["error"] + final["log_tail"]
        log = (work / "runs" / run_id / "run.log").read_text()
        assert "--resume" in log and f"iter_{saved}.pth" in log
        answers = client.predict(run_id, handle_file(str(image)), QA["question"],
                                 api_name="/compare")
        print(answers)
        assert rouge_l(answers["finetuned"], QA["answer"]) >= 0.8, answers
        assert rouge_l(answers["base"], QA["answer"]) < 0.5, answers  # the "before"
