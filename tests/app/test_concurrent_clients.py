"""Issue 6: a class of 30 gradio_client clients comparing at once."""
import json
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from gradio_client import Client, handle_file

from tests.support.app_server import running_app, wait_models_ready, wait_run
from tests.support.images import make_star_image
from tests.support.app_server import models_dir

pytestmark = [pytest.mark.slow, pytest.mark.processes]
CLIENTS = 30


def test_thirty_clients_compare_at_once(tmp_path):
    image = make_star_image(tmp_path / "star.png")
    qa = json.dumps([{"question": "What is drawn?", "answer": "A yellow star."}])
    with running_app(tmp_path / "work", "--profile", "demo", "--models-dir",
                     str(models_dir())) as (url, server):
        client = Client(url, verbose=False)
        wait_models_ready(client)
        built = client.predict(handle_file(str(image)), qa, 2, api_name="/build_dataset")
        run = client.predict(built["dataset_id"], "{}", api_name="/start_training")["run_id"]
        assert wait_run(client, run)["state"] == "done"
        client.predict(run, handle_file(str(image)), "What is drawn?", api_name="/compare")
        process = psutil.Process(server.pid)
        before = process.memory_info().rss

        def one(index: int) -> str:
            c = Client(url, verbose=False)
            answer = c.predict(run, handle_file(str(image)), f"Question {index}: what is drawn?",
                               api_name="/compare")
            return answer["finetuned"]

        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(one, i) for i in range(CLIENTS)]
            outcomes = []
            for future in futures:
                try:
                    outcomes.append(("ok", future.result(timeout=600)))
                except Exception as error:  # a refusal must say why, never a 500
                    outcomes.append(("error", str(error)))
        errors = [text for kind, text in outcomes if kind == "error"]
        assert not any("500" in e or "Internal Server Error" in e for e in errors), errors
        assert all("queue" in e.lower() for e in errors), errors
        assert sum(kind == "ok" for kind, _ in outcomes) >= CLIENTS // 2
        # Bounded memory: 30 requests must not grow the server by much.
        grown = process.memory_info().rss - before
        assert grown < 600 * 1024 * 1024, f"server grew by {grown / 2**20:.0f} MiB"
        # And it still serves.
        assert client.predict(run, api_name="/run_status")["state"] == "done"
