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
from backend.xtuner.recipes import Recipe


class NoLocalMemory:
    """A launcher whose runs take no memory this server measures: the CPU (its
    slots decide) or a cluster's nodes (Slurm allocates their GPUs)."""

    def memory_estimate(self, llm_path, visual_encoder_path, options: TrainOptions,
                        recipe: Recipe | None = None) -> int:
        return 0

    def check_memory(self, llm_path, visual_encoder_path, options: TrainOptions,
                     held: Collection[int] = (), recipe: Recipe | None = None) -> None:
        """Nothing to check here."""


class CpuLauncher(NoLocalMemory):
    """One process on the CPU, xtuner's trainer as the lesson runs it."""

    nproc = 1
    tasks = 1  # processes a cluster job starts for the train step (launchers start their own)
    recipe = None  # recipes are for CUDA (backend/xtuner/recipes.py run_recipe)

    def __init__(self, default_options: TrainOptions):
        self.default_options = default_options

    def options_for(self, recipe: Recipe | None) -> TrainOptions:
        return self.default_options

    def config_fields(self, recipe: Recipe | None = None) -> dict:
        return {}

    def train_argv(self, config: TrainConfig, python: str = sys.executable) -> list[str]:
        return train_command(config, python)

    def env(self) -> dict:
        return {}


class GpuLauncher:
    """CUDA: a recipe, the chosen GPUs, torchrun/DeepSpeed (backend/training/gpu.py)."""

    tasks = 1  # torchrun starts the processes

    def __init__(self, setup, released_before_run: Callable[[], dict[int, int]] = dict):
        self.setup = setup  # a backend.training.gpu.GpuSetup
        # GPU memory this process frees before a run starts (resident chat models).
        self.released_before_run = released_before_run

    @property
    def nproc(self) -> int:
        return self.setup.launch.nproc

    @property
    def recipe(self) -> Recipe:
        """The server's recipe (``--recipe``); a run may choose its own."""
        return self.setup.recipe

    @property
    def default_options(self) -> TrainOptions:
        return self.setup.recipe.options

    def options_for(self, recipe: Recipe | None) -> TrainOptions:
        return (recipe or self.recipe).options

    def config_fields(self, recipe: Recipe | None = None) -> dict:
        return self.setup.config_fields(recipe)

    def memory_estimate(self, llm_path, visual_encoder_path, options: TrainOptions,
                        recipe: Recipe | None = None) -> int:
        return self.setup.training_estimate(llm_path, visual_encoder_path, options, recipe)

    def check_memory(self, llm_path, visual_encoder_path, options: TrainOptions,
                     held: Collection[int] = (), recipe: Recipe | None = None) -> None:
        self.setup.check_training(llm_path, visual_encoder_path, options,
                                  self.released_before_run(), held=held, recipe=recipe)

    def train_argv(self, config: TrainConfig, python: str = sys.executable) -> list[str]:
        return self.setup.launch.train_argv(config.config_file, config.work_dir / "train", python)

    def env(self) -> dict:
        """None of its own: the placement's GPUs go into the environment when
        the run starts (runs/step_runner.py placement_env)."""
        return {}


class ClusterGpuLauncher(NoLocalMemory):
    """CUDA on a cluster's nodes (``--executor slurm`` with GPUs in its request).

    The server's own torch says nothing about the nodes, so the recipe is the
    one asked for ("auto": the lesson's, which fits a 24 GB GPU), nothing is
    measured here (Slurm allocates whole GPUs or shards) and one run over
    several GPUs is xtuner's own Slurm launch: one task a GPU, started by
    ``srun`` inside the job, each finding its rank in Slurm's environment
    (mmengine's ``--launcher slurm``), on one node or several."""

    def __init__(self, recipe: Recipe, gpus_per_run: int = 1, deepspeed: str = ""):
        self.recipe = recipe  # the server's; a run may choose its own
        self.nproc = gpus_per_run
        self.deepspeed = deepspeed

    @property
    def tasks(self) -> int:
        return self.nproc

    @property
    def default_options(self) -> TrainOptions:
        return self.recipe.options

    def options_for(self, recipe: Recipe | None) -> TrainOptions:
        return (recipe or self.recipe).options

    def config_fields(self, recipe: Recipe | None = None) -> dict:
        recipe = recipe or self.recipe
        return {"quantize_4bit": recipe.quantize_4bit, "recipe": recipe,
                "deepspeed": self.deepspeed}

    def train_argv(self, config: TrainConfig, python: str = sys.executable) -> list[str]:
        """One GPU: the train command as anywhere; several: srun starts one
        process a GPU (config.deepspeed is this launcher's: config_fields)."""
        command = train_command(config, python)
        if self.nproc == 1:
            return command
        return ["srun", "--kill-on-bad-exit=1", *command, "--launcher", "slurm"]

    def env(self) -> dict:
        return {}


def launcher_for(gpu, default_options: TrainOptions,
                 released_before_run: Callable[[], dict[int, int]] = dict):
    """The GPU launcher for a GpuSetup, else the CPU one."""
    if gpu is None:
        return CpuLauncher(default_options)
    return GpuLauncher(gpu, released_before_run)
