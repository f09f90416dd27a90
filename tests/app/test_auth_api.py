"""Issue 6: with auth on, nobody gets in without logging in, and user B
cannot read, stop or delete user A's run; a teacher reads every run."""
import json
import urllib.error
import urllib.request

import httpx
import pytest
from gradio_client import Client, handle_file

from tests.support.app_server import running_app, wait_models_ready, wait_run
from tests.support.images import make_star_image
from tests.support.app_server import models_dir

pytestmark = pytest.mark.processes

QA = json.dumps([{"question": "What is drawn?", "answer": "A yellow star."}])


def http_status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=10).status
    except urllib.error.HTTPError as error:
        return error.code


def logged_in(url: str, username: str, password: str) -> httpx.Client:
    session = httpx.Client(base_url=url, timeout=30)
    session.post("login", data={"username": username, "password": password}).raise_for_status()
    return session


def cached_upload(session: httpx.Client, name: str) -> str:
    """A file in gradio's cache, as an export would be (its path on the server)."""
    response = session.post("gradio_api/upload", files={"files": (name, b"PK\x05\x06" + bytes(18))})
    response.raise_for_status()
    return response.json()[0]


def refused(call) -> str:
    with pytest.raises(Exception) as caught:
        call()
    return str(caught.value)


@pytest.mark.slow
def test_login_required_and_runs_are_private(tmp_path):
    class_list = tmp_path / "class.csv"
    class_list.write_text("bob,pw-b\nteach,pw-t,teacher\n")
    image = make_star_image(tmp_path / "star.png")
    args = ("--profile", "demo", "--models-dir", str(models_dir()), "--auth", "alice:pw-a",
            "--auth-file", str(class_list))
    with running_app(tmp_path / "work", *args) as (url, _):
        # Not logged in: no config, no API info, no client, no endpoint.
        for path in ("config", "gradio_api/info", "gradio_api/queue/status"):
            assert http_status(url + path) in (401, 403), path
        with pytest.raises(Exception):
            Client(url, verbose=False).predict(api_name="/list_runs")
        with pytest.raises(Exception):
            Client(url, auth=("alice", "wrong"), verbose=False)

        alice = Client(url, auth=("alice", "pw-a"), verbose=False)
        bob = Client(url, auth=("bob", "pw-b"), verbose=False)
        teacher = Client(url, auth=("teach", "pw-t"), verbose=False)
        wait_models_ready(alice)
        built = alice.predict(handle_file(str(image)), QA, 200, api_name="/build_dataset")
        run = alice.predict(built["dataset_id"], "{}", api_name="/start_training")["run_id"]

        assert "Unknown dataset" in refused(
            lambda: bob.predict(built["dataset_id"], "{}", api_name="/start_training"))
        for endpoint in ("/run_status", "/stop_training", "/delete_run", "/timeline"):
            assert "Unknown run" in refused(lambda: bob.predict(run, api_name=endpoint)), endpoint
        assert "Unknown run" in refused(lambda: bob.predict(
            run, handle_file(str(image)), "Q?", api_name="/compare"))
        assert run not in [r["run_id"] for r in bob.predict(api_name="/list_runs")]

        # The teacher sees it (to show it on the projector), with its owner; may stop
        # it (below) but neither resume nor delete it.
        assert teacher.predict(run, api_name="/run_status")["owner"] == "alice"
        assert {"run_id": run, "owner": "alice"}.items() <= next(
            r for r in teacher.predict(api_name="/list_runs") if r["run_id"] == run).items()
        for endpoint in ("/resume_training", "/delete_run"):
            assert "owner can resume or delete" in refused(
                lambda: teacher.predict(run, api_name=endpoint)), endpoint

        # An export leaves through gradio's file cache: its URL serves only those
        # who may read the run its name starts with (ui/security.py).
        sessions = {user: logged_in(url, user, pw)
                    for user, pw in (("alice", "pw-a"), ("bob", "pw-b"), ("teach", "pw-t"))}
        for name in (f"{run}-llava.zip", f"{run}-scores.csv"):
            cached = cached_upload(sessions["alice"], name)
            # The route as the page uses it, and the spellings gradio resolves alike.
            for route in (f"gradio_api/file={cached}", f"gradio_api/file={cached}/",
                          f"gradio_api/file/{cached}"):
                assert sessions["bob"].get(route).status_code == 404, route
                assert sessions["alice"].get(route).status_code == 200, route
                assert sessions["teach"].get(route).status_code == 200, route
                assert httpx.get(url + route).status_code in (401, 403, 404)  # no login
        # Any other cached file is served as before.
        other = "gradio_api/file=" + cached_upload(sessions["bob"], "notes.zip")
        assert sessions["bob"].get(other).status_code == 200

        # The owner still can; the run was never disturbed by the others.
        assert alice.predict(run, api_name="/run_status")["state"] in (
            "queued", "running", "converting", "done")
        # The teacher's hand: stops a student's run (the class shares the machine).
        # Stopped, done, or (a trainer still starting up or saving) stopping.
        assert teacher.predict(run, api_name="/stop_training")["state"] in (
            "stopped", "done", "stopping")
        assert wait_run(alice, run)["state"] in ("stopped", "done")

        # The header's logout link (ui/who.py) ends this browser's login only.
        assert sessions["bob"].get("config").status_code == 200
        assert sessions["bob"].get("logout?all_session=false").status_code in (200, 302)
        assert sessions["bob"].get("config").status_code in (401, 403)
        assert sessions["alice"].get("config").status_code == 200
