"""One demo app with one finished run, for the app tests that only need *a* trained run.

Starting the demo app and training QA x 200 takes minutes on a 2-core CPU; the
tests that compare, probe, export or load the server with clients all work on a
finished run, so they share this one (tests/app/conftest.py: ``trained_demo``,
once a session). A test using it must leave the server as it found it: asking
questions is fine, deleting the run or relying on being the only run is not.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from gradio_client import Client, handle_file

from tests.support.app_server import models_dir, running_app, wait_models_ready, wait_run
from tests.support.images import QA, make_star_image

EVERY = 100          # evaluation_freq and save_steps: a timeline and earlier checkpoints
REPEATS = 200        # 3 Q&A x 200 = 600 iterations, enough to answer like the data


@contextmanager
def trained_demo_app(root: Path):
    """Start the demo-profile app under ``root``, train QA x REPEATS on the star image, and
    yield a dict: client, url, process (the server), image, built (/build_dataset's answer),
    started (/start_training's), run_id, max_iters, run_dir, root."""
    image = make_star_image(root / "star.png")
    # Warm trainers on (a GPU server's default): the run's training and both
    # conversions go to processes started ahead of them, so every test of this
    # run's answers also checks that path (tests/app/test_warm_trainers_app.py).
    with running_app(root / "work", "--profile", "demo", "--models-dir",
                     str(models_dir()), "--warm-trainers", "on") as (url, process):
        client = Client(url, verbose=False)
        wait_models_ready(client)
        built = client.predict(handle_file(str(image)), json.dumps(QA), REPEATS,
                               api_name="/build_dataset")
        options = json.dumps({"evaluation_freq": EVERY, "save_steps": EVERY})
        started = client.predict(built["dataset_id"], options, api_name="/start_training")
        status = wait_run(client, started["run_id"], timeout=1800)
        assert status["state"] == "done", status["error"] + status["log_tail"]
        yield {"client": client, "url": url, "process": process, "image": image,
               "built": built, "started": started, "run_id": started["run_id"],
               "max_iters": status["max_iters"],
               "run_dir": root / "work" / "runs" / started["run_id"], "root": root}
