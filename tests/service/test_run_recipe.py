"""Each run chooses its recipe ("recipe" in the options JSON): TrainingService
renders that run's config, memory estimate and defaults with it, on a CPU
with the device said to be CUDA (a GpuSetup built by hand, nvidia-smi's
answer faked) and the demo models' real tokenizer and config files. The jobs
object only records what would be submitted: no process starts."""
import json
from pathlib import Path

import pytest
from mmengine.config import Config

from backend.data import dataset
from backend.data.store import DatasetStore
from backend.models.paths import ModelPaths
from backend.training import gpu as gpu_module
from backend.training.disk_budget import DiskBudget
from backend.training.gpu import GpuInfo, GpuSetup, Launch
from backend.training.memory import GIB
from backend.training.service import TrainingService
from backend.xtuner.options import ConfigError
from backend.xtuner.recipes import FAST, LESSON
from tests.support.demo_models import ensure_shared_demo_models
from tests.support.images import make_star_image

pytestmark = [pytest.mark.slow, pytest.mark.processes]  # the demo models (built if missing)


class RecordingJobs:
    """What TrainingService asks of the JobManager, without running anything."""

    def __init__(self):
        self.specs = []

    def list_runs(self):
        return []

    def devices_in_use(self):
        return set()

    def submit(self, spec):
        self.specs.append(spec)
        return {"run_id": spec.run_id, "state": "queued", "options": spec.options}


def _service(tmp_path: Path, gpu) -> TrainingService:
    demo = ensure_shared_demo_models() / "demo"
    pth = tmp_path / "iter_2181.pth"
    pth.write_bytes(b"x")
    paths = ModelPaths(demo / "llm", demo / "clip", pth)
    store = DatasetStore(tmp_path / "datasets")
    stored = store.create(make_star_image(tmp_path / "star.png"),
                          dataset.conversations_from_rows([("What is it?", "A cat.")]), 3)
    service = TrainingService(store, RecordingJobs(), tmp_path / "runs", lambda: paths,
                              LESSON.options, device="cuda" if gpu else "cpu", gpu=gpu,
                              budget=DiskBudget(tmp_path / "runs", lambda run_id: None))
    service.dataset_id = stored.dataset_id
    return service


@pytest.fixture
def cuda_lesson_server(tmp_path, monkeypatch):
    """A server started with --recipe lesson on one fake 80 GiB GPU."""
    monkeypatch.setattr(gpu_module, "list_gpus",
                        lambda: [GpuInfo(0, "fake", 80 * GIB, 80 * GIB)])
    (tmp_path / "runs").mkdir()
    return _service(tmp_path, GpuSetup(LESSON, Launch((0,)), {0: 80 * GIB}))


def _config(spec) -> Config:
    return Config.fromfile(str(spec.run_dir / "finetune_config.py"))


def test_a_run_that_asks_for_the_fast_recipe_gets_it_on_a_lesson_server(cuda_lesson_server):
    service = cuda_lesson_server
    fast = service.start(service.dataset_id, json.dumps({"recipe": "fast", "epochs": 2}))
    lesson = service.start(service.dataset_id, "{}")  # the server's --recipe
    fast_spec, lesson_spec = service.jobs.specs
    assert fast["options"]["recipe"] == "fast" and fast["options"]["epochs"] == 2
    assert lesson["options"]["recipe"] == "lesson"
    cfg = _config(fast_spec)
    assert "quantization_config" not in cfg.model.llm
    assert cfg.model.visual_encoder_lora is None and cfg.model.llm_lora.lora_dropout == 0.0
    assert "fused" not in cfg.optim_wrapper.optimizer  # measured: no gain at batch 1
    assert cfg.optim_wrapper.dtype == "bfloat16"
    assert cfg.model.use_activation_checkpointing is False
    assert cfg.train_dataloader.batch_size == 1
    assert _config(lesson_spec).model.llm.quantization_config.load_in_4bit
    # Each run's memory estimate is its own recipe's (the scheduler admits by it).
    setup = service.gpu
    paths = service._model_paths()
    assert fast_spec.memory_bytes == setup.training_estimate(
        paths.llm, paths.visual_encoder, fast_spec_options(fast), FAST)
    assert lesson_spec.memory_bytes == setup.training_estimate(
        paths.llm, paths.visual_encoder, LESSON.options, LESSON)
    assert fast_spec.memory_bytes != lesson_spec.memory_bytes


def fast_spec_options(snap):
    from backend.xtuner.options import TrainOptions

    return TrainOptions(**{k: v for k, v in snap["options"].items() if k != "recipe"})


def test_the_same_options_with_another_recipe_are_another_run(cuda_lesson_server):
    service = cuda_lesson_server
    service.start(service.dataset_id, json.dumps({"recipe": "fast"}))
    service.jobs.list_runs = lambda: [{"run_id": s.run_id, "state": "queued",
                                       "dataset_id": service.dataset_id, "owner": ""}
                                      for s in service.jobs.specs]
    service.jobs.snapshot = lambda run_id: {
        "run_id": run_id, "state": "queued",
        "options": next(s.options for s in service.jobs.specs if s.run_id == run_id)}
    again = service.start(service.dataset_id, json.dumps({"recipe": "fast"}))
    assert again["already_started"] is True
    other = service.start(service.dataset_id, json.dumps({"recipe": "lesson"}))
    assert other["already_started"] is False and len(service.jobs.specs) == 2


def test_an_unknown_recipe_is_refused_before_anything_is_written(cuda_lesson_server):
    service = cuda_lesson_server
    for value in ("turbo", 3, ["fast"]):
        with pytest.raises(ConfigError, match="choose one of lesson, fast") as error:
            service.start(service.dataset_id, json.dumps({"recipe": value}))
        assert error.value.message_key == "err_recipe_unknown"
    assert service.jobs.specs == [] and list((service.runs_root).iterdir()) == []


def test_a_cpu_server_refuses_the_recipe_key_with_a_sentence(tmp_path):
    (tmp_path / "runs").mkdir()
    service = _service(tmp_path, None)
    with pytest.raises(ConfigError, match="for CUDA GPUs") as error:
        service.start(service.dataset_id, json.dumps({"recipe": "fast"}))
    assert error.value.message_key == "err_recipe_cpu"
    assert service.recipe_costs(100) == []


def test_recipe_costs_name_each_recipe_with_its_time_and_memory(cuda_lesson_server):
    costs = {c["recipe"]: c for c in cuda_lesson_server.recipe_costs(1200)}
    assert list(costs) == ["lesson", "fast"]
    assert costs["lesson"]["default"] and not costs["fast"]["default"]
    assert costs["fast"]["iterations"] == costs["lesson"]["iterations"] == 1200
    assert costs["fast"]["seconds"] == pytest.approx(1200 * FAST.s_per_iter)
    assert costs["lesson"]["seconds"] == pytest.approx(1200 * LESSON.s_per_iter)
    assert costs["fast"]["memory_bytes"] > 0 and costs["lesson"]["memory_bytes"] > 0
    assert all(c["memory_bytes"] == 0
               for c in cuda_lesson_server.recipe_costs(1200, with_memory=False))
