"""Which checkpoint the Compare tab attaches, straight from iter_N.pth.

A real (tiny) LLaVA LoRA checkpoint on disk, a real JobSpec and the real
adapter writer; only the chat models are a recorder (no model loads here:
the slow tests in test_compare_e2e.py answer with the real ones).
"""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from backend.models.chat import ChatError
from backend.compare.service import CompareService
from backend.runs.spec import JobSpec
from tests.support.compare import LORA_KEY, write_checkpoint

class RecordingChat:
    def __init__(self, root: Path):
        self.paths = SimpleNamespace(llm=root / "llm", visual_encoder=root / "clip")
        self.attached: dict[str, Path] = {}

    def attach(self, name: str, folder: Path) -> None:
        self.attached[name] = folder


class OneRun:
    def __init__(self, run_dir: Path, state: str, step: str = "train"):
        self.folder, self.state, self.step = run_dir, state, step

    def snapshot(self, run_id):
        return {"state": self.state, "step": self.step}

    def run_dir(self, run_id):
        return self.folder


@pytest.fixture
def run(tmp_path):
    run_dir = tmp_path / "runs" / "run-1"
    states = {i: write_checkpoint(run_dir / "train" / f"iter_{i}.pth", i) for i in (50, 100)}
    JobSpec(run_id="run-1", dataset_id="ds", run_dir=run_dir, steps=[], max_iters=100,
            options={"llm_lora_alpha": 32, "visual_lora_alpha": 8}).save()
    chat = RecordingChat(tmp_path)
    jobs = OneRun(run_dir, "converting")
    service = CompareService(lambda: chat, jobs, tmp_path / "scratch")
    return SimpleNamespace(dir=run_dir, states=states, chat=chat, jobs=jobs, service=service)


def test_a_converting_run_answers_with_its_last_checkpoint_without_pth_to_hf(run):
    from safetensors.torch import load_file

    assert run.service._finetuned_name("run-1") == "run-1@iter_100"
    folder = run.chat.attached["run-1@iter_100"]
    assert folder == run.dir / "adapters_iter_100"
    assert not (run.dir / "hf_finetuned").exists()  # pth_to_hf has not run
    llm = load_file(str(folder / "llm_adapter" / "adapter_model.safetensors"))
    saved = LORA_KEY.format("A").replace(".default.", ".")[len("llm."):]
    assert torch.equal(llm[saved], run.states[100][LORA_KEY.format("A")])
    config = json.loads((folder / "llm_adapter" / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 32  # the run's own options
    assert config["target_modules"] == ["wqkv"]
    clip = json.loads((folder / "visual_encoder_adapter" / "adapter_config.json").read_text())
    assert clip["r"] == 4 and clip["lora_alpha"] == 8
    assert (folder / "projector" / "config.json").is_file()


def test_an_earlier_checkpoint_gets_its_own_name_and_folder(run):
    assert run.service._finetuned_name("run-1", "iter_50") == "run-1@iter_50"
    assert run.chat.attached["run-1@iter_50"] == run.dir / "adapters_iter_50"
    with pytest.raises(ChatError, match="iter_70.pth is not on disk.*iter_50, iter_100"):
        run.service._finetuned_name("run-1", "iter_70")
    with pytest.raises(ChatError, match="Unknown checkpoint"):
        run.service._finetuned_name("run-1", "../../etc")


def test_adapters_are_written_once_and_never_left_half_written(run, monkeypatch):
    from backend.compare import adapters as checkpoint_adapters

    run.service._finetuned_name("run-1")
    stamp = (run.dir / "adapters_iter_100" / "projector").stat().st_mtime_ns
    run.service._finetuned_name("run-1")
    assert (run.dir / "adapters_iter_100" / "projector").stat().st_mtime_ns == stamp

    def crash(*args, **kwargs):
        (run.dir / ".adapters_iter_50.partial").mkdir()
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_adapters, "write_adapters", crash)
    with pytest.raises(OSError):
        run.service._finetuned_name("run-1", "iter_50")
    assert not (run.dir / "adapters_iter_50").exists()


@pytest.mark.parametrize("state", ["queued", "running", "failed", "stopped"])
def test_only_runs_whose_training_finished_can_answer(run, state):
    run.jobs.state = state
    with pytest.raises(ChatError, match=f"is {state}; compare needs a run whose training"):
        run.service._finetuned_name("run-1")
    assert run.chat.attached == {}


def test_a_run_that_failed_in_a_conversion_still_answers(run):
    # Its training finished and its checkpoints are final; only pth_to_hf failed.
    run.jobs.state, run.jobs.step = "failed", "convert_finetuned"
    assert run.service._finetuned_name("run-1") == "run-1@iter_100"


def test_the_export_waits_for_pth_to_hf(run):
    with pytest.raises(ChatError, match="export needs the converted model"):
        run.service.export("run-1")
