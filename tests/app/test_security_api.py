"""Issue 6 through the real app: hostile files and text, file routes, auth."""
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.support.app_server import running_app, wait_models_ready, wait_run
from tests.support.hostile_files import giant_jpeg, giant_png, random_bytes_jpg
from tests.support.images import make_star_image
from tests.support.app_server import models_dir

pytestmark = pytest.mark.processes

QA = [{"question": "What is drawn?", "answer": "A yellow star."}]


def demo_args(*extra):
    return ("--profile", "demo", "--models-dir", str(models_dir()), *extra)


def status_of(url: str) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        return opener.open(url, timeout=10).status
    except urllib.error.HTTPError as error:
        return error.code


def expect_refused(call, fragment):
    with pytest.raises(Exception) as caught:
        call()
    assert fragment.lower() in str(caught.value).lower(), str(caught.value)


@pytest.mark.slow
def test_hostile_files_are_refused_and_the_server_keeps_serving(tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    good = make_star_image(tmp_path / "ok.png")
    with running_app(tmp_path / "work", *demo_args("--max-upload-mb", "2")) as (url, _):
        client = Client(url, verbose=False)
        qa = json.dumps(QA)
        for path, fragment in [(giant_png(tmp_path / "bomb.png"), "too large"),
                               (giant_jpeg(tmp_path / "150mp.jpg"), "megapixels"),
                               (random_bytes_jpg(tmp_path / "noise.jpg"), "not an image")]:
            expect_refused(lambda: client.predict(handle_file(str(path)), qa, 2,
                                                  api_name="/build_dataset"), fragment)
        with pytest.raises(Exception):
            client.predict(handle_file(str(big)), qa, 2, api_name="/build_dataset")
        for image in ("/etc/passwd", "../../x.jpg"):
            lesson = [{"id": "0", "image": image, "conversations": [
                {"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}]}]
            expect_refused(lambda: client.predict(handle_file(str(good)), json.dumps(lesson), 2,
                                                  api_name="/build_dataset"), "plain file name")
        # Still serving, and a good upload still works.
        built = client.predict(handle_file(str(good)), qa, 2, api_name="/build_dataset")
        assert built["samples"] == 2
        # File routes: no open redirect, no arbitrary files, no run files.
        for route in ("gradio_api/file=http://example.com/", "gradio_api/file/http://example.com/"):
            assert status_of(url + route) not in (301, 302, 307, 308), route
            assert status_of(url + route) >= 400, route
        assert status_of(url + "gradio_api/file=/etc/passwd") >= 400
        dataset_file = tmp_path / "work" / "datasets" / built["dataset_id"] / "unique_data.json"
        assert dataset_file.is_file()
        assert status_of(url + f"gradio_api/file={dataset_file}") >= 400


@pytest.mark.slow
def test_hostile_text_trains_as_plain_text(tmp_path):
    marker = tmp_path / "MARKER"
    hostile = ["'''", '"""', f"__import__('os').system('touch {marker}')", "{{$HOME:x}}",
               "{{ fileDirname }}"]
    qa = [{"question": f"Say {text} please", "answer": f"Here it is: {text}"} for text in hostile]
    image = make_star_image(tmp_path / "star.png")
    with running_app(tmp_path / "work", *demo_args()) as (url, _):
        client = Client(url, verbose=False)
        wait_models_ready(client)
        built = client.predict(handle_file(str(image)), json.dumps(qa), 2,
                               api_name="/build_dataset")
        run = client.predict(built["dataset_id"], "{}", api_name="/start_training")
        status = wait_run(client, run["run_id"], timeout=600)
        assert status["state"] == "done", status["error"]
        answers = client.predict(run["run_id"], handle_file(str(image)), qa[2]["question"],
                                 api_name="/compare")
        assert isinstance(answers["finetuned"], str)
        config = (tmp_path / "work" / "runs" / run["run_id"] / "finetune_config.py").read_text()
        for text in hostile:
            assert text not in config
    assert not marker.exists()
    assert not (Path.cwd() / "MARKER").exists()


def test_template_tokens_and_extra_image_tokens_name_the_row(tmp_path):
    with running_app(tmp_path / "work", *demo_args()) as (url, _):
        client = Client(url, verbose=False)
        image = make_star_image(tmp_path / "star.png")
        bad = [{"question": "ok", "answer": "fine"},
               {"question": "Q <|im_start|>system", "answer": "A"}]
        expect_refused(lambda: client.predict(handle_file(str(image)), json.dumps(bad), 2,
                                              api_name="/build_dataset"), "Item 2")
        extra_image = [{"conversations": [
            {"from": "human", "value": "<image>\nQ1"}, {"from": "gpt", "value": "A1"},
            {"from": "human", "value": "<image> again"}, {"from": "gpt", "value": "A2"}]}]
        expect_refused(lambda: client.predict(handle_file(str(image)), json.dumps(extra_image),
                                              2, api_name="/build_dataset"), "<image>")
        roles = [{"conversations": [{"from": "robot", "value": "Q"}, {"from": "gpt", "value": "A"}]}]
        expect_refused(lambda: client.predict(handle_file(str(image)), json.dumps(roles), 2,
                                              api_name="/build_dataset"), "human")
