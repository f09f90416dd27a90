"""On a GPU, the chat models and training share its memory: build_services'
wiring, checked on a CPU with the device said to be CUDA, one fake 80 GiB
GPU, and real (fake-trainer) subprocesses as the runs on it."""
import dataclasses

import pytest

from backend import services as services_module
from backend.models import resident as resident_module
from backend.models.chat import ChatError
from backend.settings import Settings
from backend.training import gpu as gpu_module
from backend.training.gpu import GpuInfo, GpuSetup, Launch
from backend.training.memory import GIB
from backend.xtuner.recipes import LESSON
from tests.support.jobs import spec_for, wait_for
from tests.support.polling import poll_until

pytestmark = pytest.mark.processes

FREE = 20 * GIB  # what nvidia-smi says the GPU has free, the chat models loaded
CHAT = 30 * GIB  # what the chat models hold


class Measured(Exception):
    """The chat models' own memory check was reached (nothing is loaded in these tests)."""


@pytest.fixture
def cuda_services(tmp_path, monkeypatch):
    models = tmp_path / "models"
    (models / "llm").mkdir(parents=True)
    (models / "clip").mkdir()
    (models / "iter_2181.pth").write_bytes(b"x")
    checks = []

    def chat_memory_check(paths):
        checks.append(paths)
        raise Measured()

    monkeypatch.setattr(services_module, "_device", lambda: "cuda")
    monkeypatch.setattr(services_module, "_gpu_setup",
                        lambda settings, device: GpuSetup(LESSON, Launch((0,)), {0: 80 * GIB}))
    monkeypatch.setattr(gpu_module, "list_gpus", lambda: [GpuInfo(0, "fake", 80 * GIB, FREE)])
    monkeypatch.setattr(resident_module, "chat_memory_check", chat_memory_check)
    monkeypatch.setattr(resident_module, "chat_gpu", lambda: 0)
    built = services_module.build_services(Settings(
        work_dir=tmp_path / "work", profile="custom", llm_path=models / "llm",
        visual_encoder_path=models / "clip", pretrained_pth=models / "iter_2181.pth"))
    built.memory_checks = checks
    yield built
    built.close()


def test_chat_models_wait_while_a_run_starts_on_their_gpu_then_load_beside_it(
        cuda_services, tmp_path):
    jobs = cuda_services.jobs
    chat = cuda_services.compare._chat()
    loaded = tmp_path / "model-loaded"
    jobs.submit(spec_for(tmp_path, "run-t", FAKE_ITERS=4000, FAKE_SLEEP=0.05,
                         FAKE_WAIT_FOR=loaded))
    # The trainer is loading its model (until the test creates the file): the
    # GPU's free memory does not show what it will take yet.
    assert jobs.starting_gpus() == {0}
    with pytest.raises(ChatError, match="starting on the GPU"):
        chat.load()
    assert not chat.loaded and cuda_services.memory_checks == []
    loaded.touch()
    poll_until(lambda: not jobs.starting_gpus(), message="run-t training")
    assert jobs.training_runs() == {"run-t": "cuda:0"}
    # Training now: the chat models' own memory check decides.
    with pytest.raises(Measured):
        chat.load()
    assert len(cuda_services.memory_checks) == 1
    jobs.stop("run-t", keep_progress=False)
    wait_for(jobs, "run-t", {"stopped"})


def test_chat_models_are_unloaded_only_for_a_run_that_needs_their_memory(
        cuda_services, tmp_path, monkeypatch):
    jobs = cuda_services.jobs
    chat = cuda_services.compare._chat()
    unloads = []
    monkeypatch.setattr(chat, "unload", lambda: unloads.append(len(unloads)))
    monkeypatch.setattr(resident_module, "chat_reserved_bytes",
                        lambda models: {0: CHAT} if models is chat else {})

    def submit(run_id, memory):
        jobs.submit(dataclasses.replace(
            spec_for(tmp_path, run_id, FAKE_ITERS=4000, FAKE_SLEEP=0.05), memory_bytes=memory))
        # The run's process has started: its before_job has run.
        poll_until(lambda: jobs.registry.get(run_id)["pid"], message=f"{run_id} started")

    submit("run-small", 5 * GIB)   # fits the 20 GiB free beside the chat models
    assert unloads == []
    submit("run-big", 20 * GIB)    # only with the chat models' 30 GiB
    assert jobs.snapshot("run-big")["device"] == "cuda:0"
    assert unloads == [0]
    for run_id in ("run-small", "run-big"):
        jobs.stop(run_id, keep_progress=False)
        wait_for(jobs, run_id, {"stopped"})
