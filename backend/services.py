"""Builds every backend service from Settings (the app's one factory)."""
from __future__ import annotations

import sys
from dataclasses import dataclass

from .chat import ChatModels
from .compare import CompareService
from .dataset_store import DatasetStore
from .jobs import JobManager
from .model_builder import BackgroundModels
from .profiles import Profile, choose_profile
from .run_registry import RunRegistry
from .settings import Settings
from .training import TrainingService
from .xtuner_config import TrainOptions

# Tuned so the lesson's phenomenon happens on the demo's tiny models within
# a couple of minutes of CPU (see docs/demo-profile.md).
DEMO_OPTIONS = TrainOptions(lr=1e-3, llm_lora_r=64, llm_lora_alpha=128, visual_lora_r=16,
                            visual_lora_alpha=32, max_length=256, warmup_ratio=0.03,
                            save_steps=50, evaluation_freq=50)
LESSON_OPTIONS = TrainOptions()


@dataclass
class Services:
    settings: Settings
    profile: Profile
    models: BackgroundModels
    datasets: DatasetStore
    jobs: JobManager
    training: TrainingService
    compare: CompareService
    device: str

    def close(self) -> None:
        self.jobs.shutdown()


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_services(settings: Settings) -> Services:
    work = settings.work_dir
    work.mkdir(parents=True, exist_ok=True)
    profile = choose_profile(settings)
    models = BackgroundModels(profile).start()
    device = _device()
    registry = RunRegistry(work / "studio.db")
    chat_holder: dict = {}

    def chat() -> ChatModels:
        if "chat" not in chat_holder:
            chat_holder["chat"] = ChatModels(models.wait(), device)
        return chat_holder["chat"]

    def before_job(_spec) -> None:
        # Training and chat never hold the same GPU memory at once.
        if device == "cuda" and "chat" in chat_holder:
            chat_holder["chat"].unload()

    jobs = JobManager(registry, max_queue=settings.max_queue, before_job=before_job)
    jobs.reconcile(work / "runs")
    datasets = DatasetStore(work)
    options = DEMO_OPTIONS if profile.name == "demo" else LESSON_OPTIONS
    training = TrainingService(datasets, jobs, work / "runs", models.wait, options,
                               device=device, threads=settings.train_threads,
                               python=sys.executable)
    compare = CompareService(chat, jobs, work / "scratch")
    return Services(settings, profile, models, datasets, jobs, training, compare, device)
