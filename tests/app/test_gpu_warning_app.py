"""The real app behind a fake nvidia-smi, with this machine's torch (no GPU for it):
the warning is in the start-up log, the page header and /models_status, and a
real-size profile refuses to train."""
import json
import os
import urllib.request
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from tests.support.app_server import models_dir, running_app
from tests.support.fakes.nvidia_smi import A100, write_fake_nvidia_smi

pytestmark = [pytest.mark.slow, pytest.mark.processes,
              pytest.mark.skipif(torch.cuda.is_available(), reason="torch uses a real GPU here")]
ROOT = Path(__file__).resolve().parents[2]
FACTS = (A100["name"], A100["driver_version"], "CUDA " + A100["cuda"], torch.__version__,
         "scripts/install_deps.sh")


def fake_gpu_env(tmp_path: Path) -> dict:
    folder = write_fake_nvidia_smi(tmp_path / "gpu")
    env = {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    return env


def component(config: dict, elem_id: str) -> dict:
    found = [c["props"] for c in config["components"] if c["props"].get("elem_id") == elem_id]
    assert found, f"no #{elem_id} in the page"
    return found[0]


def test_the_page_header_the_log_and_models_status_name_the_unused_gpu(tmp_path):
    args = ("--profile", "demo", "--models-dir", str(models_dir()))
    with running_app(tmp_path / "work", *args, env=fake_gpu_env(tmp_path)) as (url, _):
        config = json.load(urllib.request.urlopen(url + "config", timeout=30))
        header = component(config, "gpu-warning")
        assert header.get("visible", True) is not False
        for fact in FACTS:
            assert fact in header["value"], fact

        warnings = Client(url, verbose=False).predict(api_name="/models_status")["warnings"]
        assert len(warnings) == 1 and all(fact in warnings[0] for fact in FACTS)
        assert "runs on the CPU" in warnings[0]
        chinese = Client(url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        zh = chinese.predict(api_name="/models_status")["warnings"]
        assert "在 CPU 上运行" in zh[0] and A100["name"] in zh[0]
    log = next(tmp_path.glob("app-*.log")).read_text(encoding="utf-8")
    assert "WARNING: GPU " + A100["name"] in log and "CUDA " + A100["cuda"] in log


def test_a_real_size_profile_refuses_to_train_on_the_cpu(tmp_path):
    # The custom profile on folders without weights: the refusal comes before any load.
    args = ("--profile", "custom", "--llm", str(tmp_path / "llm"), "--visual-encoder",
            str(tmp_path / "clip"), "--pretrained-pth", str(tmp_path / "iter_2181.pth"))
    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), "red").save(image)
    qa = json.dumps([{"question": "What colour is it?", "answer": "Red."}])
    with running_app(tmp_path / "work", *args, env=fake_gpu_env(tmp_path)) as (url, _):
        client = Client(url, verbose=False)
        built = client.predict(handle_file(str(image)), qa, 2, api_name="/build_dataset")
        with pytest.raises(Exception) as refused:
            client.predict(built["dataset_id"], "{}", api_name="/start_training")
        message = str(refused.value)
        assert "--allow-cpu" in message and A100["name"] in message
        assert client.predict(api_name="/list_runs") == []
