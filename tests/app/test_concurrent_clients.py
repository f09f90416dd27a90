"""Issue 6: a class of 30 gradio_client clients comparing at once, on the session's
shared demo run (tests/support/trained_app.py)."""
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from gradio_client import Client, handle_file

pytestmark = [pytest.mark.slow, pytest.mark.processes]
CLIENTS = 30


def test_thirty_clients_compare_at_once(trained_demo):
    client, run, image = trained_demo["client"], trained_demo["run_id"], trained_demo["image"]
    url = trained_demo["url"]
    client.predict(run, handle_file(str(image)), "What is drawn?", api_name="/compare")
    process = psutil.Process(trained_demo["process"].pid)
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
