"""Issue 15 on the real demo profile: with ``--runs-per-device 2`` two students'
runs train at the same time on the CPU, and each reproduces its own trained answer.

Real app (login on, so the per-student limit of one active run applies to each),
real xtuner trainers side by side, real conversion, the compare endpoint.
"""
import json

import pytest
from gradio_client import Client, handle_file

from backend.compare.scoring import rouge_l
from tests.support.app_server import models_dir, running_app, wait_models_ready, wait_run
from tests.support.images import make_star_image
from tests.support.polling import LONG, poll_until

pytestmark = [pytest.mark.slow, pytest.mark.processes]

# One Q&A each, with different answers, so each run must reproduce its own.
STUDENTS = {
    "ana": ("pw-a", {"question": "What shape is drawn in the middle?",
                     "answer": "There is a big yellow star with five sharp points."}),
    "ben": ("pw-b", {"question": "Which color is the background?",
                     "answer": "The background is painted deep purple everywhere."}),
}
# One sample seen 150 times. 100 already gave both answers verbatim (final loss
# 0.14 and 0.26); the rest is margin, and cheap: a demo iteration takes about
# 0.02 s, the run's time is its start-up and conversions.
REPEATS = 150


def test_two_students_train_at_once_and_each_reproduces_their_answer(tmp_path):
    class_list = tmp_path / "class.csv"
    class_list.write_text("".join(f"{name},{pw}\n" for name, (pw, _qa) in STUDENTS.items())
                          + "teach,pw-t,teacher\n")
    image = make_star_image(tmp_path / "star.png")
    with running_app(tmp_path / "work", "--profile", "demo", "--models-dir", str(models_dir()),
                     "--auth-file", str(class_list), "--runs-per-device", "2") as (url, _):
        teacher = Client(url, auth=("teach", "pw-t"), verbose=False)
        wait_models_ready(teacher)
        clients, runs = {}, {}
        for name, (pw, qa) in STUDENTS.items():
            clients[name] = Client(url, auth=(name, pw), verbose=False)
            built = clients[name].predict(handle_file(str(image)), json.dumps([qa]), REPEATS,
                                          api_name="/build_dataset")
            started = clients[name].predict(built["dataset_id"], "{}",
                                            api_name="/start_training")
            # Two slots on the CPU: the second run is placed at once, not queued.
            assert started["state"] == "running" and started["queue_position"] is None, started
            runs[name] = started["run_id"]

        # Both trainers in their train step in ONE read of the class's runs (a
        # state that lasts the whole training, so polling cannot miss it).
        def both_training():
            rows = {r["run_id"]: r for r in teacher.predict(api_name="/list_runs")}
            mine = [rows[run_id] for run_id in runs.values()]
            return all(r["state"] == "running" and r["step"] == "train" for r in mine) and mine

        rows = poll_until(both_training, LONG, interval=1,
                          message="the two runs were never training at the same time")
        assert [r["device"] for r in rows] == ["cpu", "cpu"]

        for name, (_pw, qa) in STUDENTS.items():
            client, run_id = clients[name], runs[name]
            status = wait_run(client, run_id)
            assert status["state"] == "done", status["error"] + status["log_tail"]
            assert status["device"] == "cpu" and status["owner"] == name
            answers = client.predict(run_id, handle_file(str(image)), qa["question"],
                                     api_name="/compare")
            print(name, answers)
            assert rouge_l(answers["finetuned"], qa["answer"]) >= 0.8, answers
