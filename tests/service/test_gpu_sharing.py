"""On a GPU, training and the chat models never hold its memory at once:
build_services' wiring, checked on a CPU with the device said to be CUDA and a
real (fake-trainer) subprocess holding the "GPU"."""

import pytest

from backend import services as services_module
from backend.models import resident as resident_module
from backend.models.chat import ChatError
from backend.settings import Settings
from tests.support.polling import poll_until
from tests.support.jobs import spec_for, wait_for

pytestmark = pytest.mark.processes


@pytest.fixture
def cuda_services(tmp_path, monkeypatch):
    models = tmp_path / "models"
    (models / "llm").mkdir(parents=True)
    (models / "clip").mkdir()
    (models / "iter_2181.pth").write_bytes(b"x")
    checks = []
    monkeypatch.setattr(services_module, "_device", lambda: "cuda")
    monkeypatch.setattr(services_module, "_gpu_setup", lambda settings, device: None)
    monkeypatch.setattr(resident_module, "chat_memory_check", checks.append)
    built = services_module.build_services(Settings(
        work_dir=tmp_path / "work", profile="custom", llm_path=models / "llm",
        visual_encoder_path=models / "clip", pretrained_pth=models / "iter_2181.pth"))
    built.memory_checks = checks
    yield built
    built.close()


def test_chat_models_refuse_to_load_once_a_run_has_started_training(cuda_services, tmp_path):
    jobs = cuda_services.jobs
    # Compare got its chat models while nothing trained ...
    chat = cuda_services.compare._chat()
    # ... then a queued run started before they loaded (an attach can take a while).
    jobs.submit(spec_for(tmp_path, "run-t", FAKE_ITERS=400, FAKE_SLEEP=0.05))
    poll_until(lambda: jobs.training_run() == "run-t", message="run-t training")
    with pytest.raises(ChatError, match="training run is using the GPU"):
        chat.load()
    assert not chat.loaded and cuda_services.memory_checks == []
    with pytest.raises(ChatError, match="training run is using the GPU"):
        cuda_services.compare._chat()
    jobs.stop("run-t")
    wait_for(jobs, "run-t", {"stopped", "done"})
