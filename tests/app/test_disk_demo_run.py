"""Issue 16's full disk with the real demo profile: the disk holding WORK_DIR
fills while xtuner trains; that run fails saying so, the app keeps answering,
and once space is back a new run starts without a restart."""
import json
import shutil

import pytest
from gradio_client import Client, handle_file

from tests.support.app_server import running_app, wait_iter, wait_models_ready, wait_run
from tests.support.polling import poll_until
from tests.support.tmpfs import small_tmpfs
from tests.support.app_server import models_dir
from tests.support.images import QA, make_star_image

pytestmark = [pytest.mark.slow, pytest.mark.processes]


def fill(path):
    """Write until the kernel says ENOSPC."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"x" * (1 << 20))
                f.flush()
        except OSError:
            pass


def test_a_disk_that_fills_during_a_demo_run(tmp_path):
    with small_tmpfs(tmp_path / "disk", "600m") as mount:
        work = mount / "work"
        image = handle_file(str(make_star_image(tmp_path / "star.png")))
        with running_app(work, "--profile", "demo", "--models-dir",
                         str(models_dir())) as (url, _):
            client = Client(url, verbose=False)
            wait_models_ready(client)
            built = client.predict(image, json.dumps(QA), 10, api_name="/build_dataset")
            run = client.predict(built["dataset_id"], "{}", api_name="/start_training")
            wait_iter(client, run["run_id"], 2)
            fill(mount / "ballast")

            status = wait_run(client, run["run_id"])
            assert status["state"] == "failed", status
            assert status["error"].startswith("The disk holding WORK_DIR is full: "), status
            # The app still answers; new work is refused with the same sentence.
            assert [r["state"] for r in client.predict(api_name="/list_runs")] == ["failed"]
            with pytest.raises(Exception, match="The disk holding WORK_DIR is full"):
                client.predict(image, json.dumps(QA), 10, api_name="/build_dataset")
            with pytest.raises(Exception, match="The disk holding WORK_DIR is full"):
                client.predict(built["dataset_id"], '{"epochs": 2}', api_name="/start_training")
            assert sorted(p.name for p in (work / "runs").iterdir()) == [run["run_id"]]

            (mount / "ballast").unlink()
            assert shutil.disk_usage(mount).free > 300 << 20
            again = client.predict(built["dataset_id"], '{"epochs": 2}',
                                   api_name="/start_training")
            def trained_or_ended():
                status = client.predict(again["run_id"], api_name="/run_status")
                return (status["iter"] >= 1 or status["state"] in ("failed", "done")) and status

            started = poll_until(trained_or_ended, 600,
                                 message="the run after the full disk never trained")
            assert started["error"] == "", started
            client.predict(again["run_id"], api_name="/stop_training")
            wait_run(client, again["run_id"])
