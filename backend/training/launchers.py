"""How a run's trainer is launched: one interface, a CPU and a GPU implementation.

TrainingService asks its launcher, never the device: how many processes train,
what the config needs, what a run starts from, its memory estimate and check,
the train command and its environment. Which GPUs a run gets is not theirs to
say: the JobManager places it when it starts (backend/runs/slots.py).
"""
from __future__ import annotations

import sys
from typing import Callable, Collection

from backend.xtuner.config import TrainConfig, train_command
from backend.xtuner.options import TrainOptions


class CpuLauncher:
    """One process on the CPU, xtuner's trainer as the lesson runs it."""

    nproc = 1

    def __init__(self, default_options: TrainOptions):
        self.default_options = default_options

    def config_fields(self) -> dict:
        return {}

    def memory_estimate(self, llm_path, visual_encoder_path, options: TrainOptions) -> int:
        """Nothing the scheduler admits by on the CPU (its slots decide)."""
        return 0

    def check_memory(self, llm_path, visual_encoder_path, options: TrainOptions,
                     held: Collection[int] = ()) -> None:
        """Nothing to check on the CPU."""

    def train_argv(self, config: TrainConfig, python: str = sys.executable) -> list[str]:
        return train_command(config, python)

    def env(self) -> dict:
        return {}


class GpuLauncher:
    """CUDA: a recipe, the chosen GPUs, torchrun/DeepSpeed (backend/training/gpu.py)."""

    def __init__(self, setup, released_before_run: Callable[[], dict[int, int]] = dict):
        self.setup = setup  # a backend.training.gpu.GpuSetup
        # GPU memory this process frees before a run starts (resident chat models).
        self.released_before_run = released_before_run

    @property
    def nproc(self) -> int:
        return self.setup.launch.nproc

    @property
    def default_options(self) -> TrainOptions:
        return self.setup.recipe.options

    def config_fields(self) -> dict:
        return self.setup.config_fields()

    def memory_estimate(self, llm_path, visual_encoder_path, options: TrainOptions) -> int:
        return self.setup.training_estimate(llm_path, visual_encoder_path, options)

    def check_memory(self, llm_path, visual_encoder_path, options: TrainOptions,
                     held: Collection[int] = ()) -> None:
        self.setup.check_training(llm_path, visual_encoder_path, options,
                                  self.released_before_run(), held=held)

    def train_argv(self, config: TrainConfig, python: str = sys.executable) -> list[str]:
        return self.setup.launch.train_argv(config.config_file, config.work_dir / "train", python)

    def env(self) -> dict:
        """None of its own: the placement's GPUs go into the environment when
        the run starts (runs/step_runner.py placement_env)."""
        return {}


def launcher_for(gpu, default_options: TrainOptions,
                 released_before_run: Callable[[], dict[int, int]] = dict):
    """The GPU launcher for a GpuSetup, else the CPU one."""
    if gpu is None:
        return CpuLauncher(default_options)
    return GpuLauncher(gpu, released_before_run)
