"""Turns (dataset, options) into a run: config files, command lines, a job."""
from __future__ import annotations

import json
import shutil
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from backend.data import dataset as dataset_rules
from backend.training.disk import checkpoints_at_peak, estimate_run_bytes
from backend.training.disk_budget import DiskBudget, registry_state
from backend.training.gpu_check import CpuTrainingRefused
from backend.data.length_check import check_lengths
from backend.data.special_tokens import special_tokens_at
from backend.data import user_json
from backend.data.store import DatasetStore
from backend.runs.spec import new_run_id
from backend.runs.jobs import LATEST_CHECKPOINT, JobManager, JobSpec, Step
from backend.models.paths import ModelPaths
from backend.runs.same_run import find_same_run
from backend.runs.slots import gpu_index
from backend.runs.step_runner import prepare_devices
from backend.xtuner.env import subprocess_env
from backend.xtuner.recipes import RECIPES, Recipe, checkpoint_contents, run_recipe
from backend.training.launchers import launcher_for
from backend.xtuner.config import (TrainConfig, TrainOptions, convert_command, terminal_commands,
                                   write_configs)

def parse_options(options_json: str, defaults: TrainOptions) -> TrainOptions:
    """User options as JSON (``"{}"`` for the profile's defaults)."""
    return defaults.with_updates(parse_updates(options_json))


def parse_updates(options_json: str) -> dict:
    """The options JSON as a dict, aliases resolved (``recipe`` is left in)."""
    try:
        updates = user_json.loads(options_json or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"options_json does not parse: {error}") from None
    if not isinstance(updates, dict):
        raise ValueError("options_json must be a JSON object.")
    # Friendly aliases for the three options people ask for most.
    aliases = {"learning_rate": "lr", "lora_rank": "llm_lora_r", "lora_r": "llm_lora_r"}
    return {aliases.get(key, key): value for key, value in updates.items()}


def recorded_options(config: TrainConfig) -> dict:
    """The run's options as the registry keeps them, with its recipe on CUDA."""
    recipe = {"recipe": config.recipe.name} if config.recipe is not None else {}
    return {**asdict(config.options), **recipe}


def with_usable_warmup(options: TrainOptions, max_iters: int) -> TrainOptions:
    """Stretch the warm-up to at least 2 iterations.

    mmengine turns warmup_ratio into whole iterations: below 1 it refuses the
    config ("end should be larger than begin"), at 1 the lr stays ~0 for the
    short runs a class makes (e.g. 10 samples x 3 repeats).
    """
    needed = min(0.5, 2.0 / max(max_iters, 1))
    if options.warmup_ratio * max_iters >= 2 or options.warmup_ratio >= needed:
        return options
    return options.with_updates({"warmup_ratio": needed})


class TrainingService:
    def __init__(self, store: DatasetStore, jobs: JobManager, runs_root: Path,
                 model_paths, default_options: TrainOptions, device: str = "cpu",
                 threads: int = 1, python: str = sys.executable, gpu=None,
                 released_before_run: Callable[[], dict[int, int]] = dict,
                 refusal: str | None = None, budget: DiskBudget | None = None,
                 quota=None, launcher=None):
        self.store = store
        # Free disk less what accepted runs may still write (training/disk_budget.py).
        self.budget = budget or DiskBudget(
            runs_root, lambda run_id: registry_state(self.jobs.registry)(run_id))
        # Per-user disk quota (training/user_quota.py); None = none.
        self.quota = quota
        # Why no run may start here (real-size models on a CPU: gpu_check); None = may.
        self.refusal = refusal
        # CUDA only: a backend.training.gpu.GpuSetup (recipe, GPUs, launch); None = as on CPU.
        self.gpu = gpu
        # ``launcher``: given for a cluster's GPUs (ClusterGpuLauncher), else this machine's.
        self.launcher = launcher or launcher_for(gpu, default_options, released_before_run)
        self.jobs = jobs
        self.runs_root = runs_root
        self._model_paths = model_paths  # callable: builds the demo lazily
        self.default_options = default_options
        self.device = device
        self.threads = threads
        self.python = python
        # Two Starts at once must not both miss each other's run.
        self._start_lock = threading.Lock()

    def step_env(self) -> dict:
        """What every step of a run adds to the server's environment (the
        placement's GPUs are added where the run lands)."""
        return {**subprocess_env(self.threads), **self.launcher.env()}

    def warm_up(self) -> None:
        """Have an xtuner process ready on each device for the first run there
        (only where the executor keeps warm processes; none when runs are
        refused, nor for torchrun's runs over several GPUs, which start their own)."""
        if self.refusal is None and self.launcher.nproc == 1:
            prepare_devices(self.jobs.executor, self.jobs.pool.devices, self.python,
                            self.step_env())

    @property
    def world_size(self) -> int:
        """Training processes per run (one per GPU)."""
        return self.launcher.nproc

    def iterations(self, samples: int, options: TrainOptions) -> int:
        """Optimizer steps of one run: xtuner's batch_size is per GPU, so with
        several GPUs each step takes batch_size samples on every one of them."""
        return dataset_rules.iterations_for(samples, options.batch_size, options.epochs,
                                            self.world_size)

    def check_gpu_memory(self, llm_path: Path, visual_encoder_path: Path,
                         options: TrainOptions, recipe: Recipe | None = None) -> None:
        """The memory check at submit: could the run ever start? On a GPU one
        of our own runs holds, it waits in the queue until there is room:
        check it against start-up's figure there."""
        held = {i for i in map(gpu_index, self.jobs.devices_in_use()) if i is not None}
        self.launcher.check_memory(llm_path, visual_encoder_path, options, held=held,
                                   recipe=recipe)

    def plan(self, dataset_id: str, options: TrainOptions, run_dir: Path,
             recipe: Recipe | None = None) -> TrainConfig:
        stored = self.store.get(dataset_id)
        paths: ModelPaths = self._model_paths()
        return TrainConfig(
            llm_path=paths.llm, visual_encoder_path=paths.visual_encoder,
            pretrained_pth=paths.pretrained_pth, data_file=run_dir / "data" / "repeated_data.json",
            image_file=run_dir / "data" / stored.image.name,
            questions_file=run_dir / "data" / "eval_questions.json",
            work_dir=run_dir, options=options, device=self.device,
            **self.launcher.config_fields(recipe))

    @property
    def run_defaults(self) -> TrainOptions:
        """What a run starts from: the CUDA recipe's options, else the profile's."""
        return self.launcher.default_options

    def schedule(self, samples: int, options: TrainOptions | None = None) -> dict:
        """Steps, samples per step (all GPUs) and epochs of a run on this setup."""
        options = options or self.run_defaults
        return {"iterations": self.iterations(samples, options),
                "batch_size": options.batch_size * self.world_size, "epochs": options.epochs}

    def start(self, dataset_id: str, options_json: str = "{}", owner: str = "") -> dict:
        """The new run's snapshot; or, when the same dataset with the same options
        is already queued or running for this owner, that run's snapshot with
        ``already_started`` True."""
        if self.refusal:  # before the models are needed: they may not even be there
            raise CpuTrainingRefused(self.refusal)
        updates = parse_updates(options_json)
        # The run's own recipe ("lesson" / "fast"), else the server's --recipe.
        recipe = run_recipe(updates.pop("recipe", None), self.launcher.recipe)
        options = self.launcher.options_for(recipe).with_updates(updates)
        stored = self.store.get(dataset_id)
        options = with_usable_warmup(options, self.iterations(stored.samples, options))
        with self._start_lock:
            same = find_same_run(self.jobs, dataset_id, options, owner, recipe)
            if same is not None:
                return {**same, "already_started": True}
            return {**self._submit(dataset_id, stored, options, owner, recipe),
                    "already_started": False}

    def recipe_costs(self, samples: int | None = None, with_memory: bool = True) -> list[dict]:
        """What each recipe costs a run of ``samples`` samples with its default
        options (the Finetune tab's choice): steps and seconds at the pace
        measured on an H200 (bench/RESULTS.md; None without samples) and the
        memory estimate (0 when not asked for: the models may still be
        building). Empty on the CPU, where recipes do not apply."""
        if self.launcher.recipe is None:
            return []
        paths = self._model_paths() if with_memory else None
        costs = []
        for recipe in RECIPES.values():
            options = self.launcher.options_for(recipe)
            iterations = self.iterations(samples, options) if samples else None
            costs.append({
                "recipe": recipe.name, "default": recipe is self.launcher.recipe,
                "s_per_iter": recipe.s_per_iter, "iterations": iterations,
                "seconds": iterations * recipe.s_per_iter if iterations else None,
                "memory_bytes": self.launcher.memory_estimate(
                    paths.llm, paths.visual_encoder, options, recipe) if paths else 0})
        return costs

    def _submit(self, dataset_id: str, stored, options: TrainOptions, owner: str,
                recipe: Recipe | None = None) -> dict:
        run_id = new_run_id()
        run_dir = self.runs_root / run_id
        config = self.plan(dataset_id, options, run_dir, recipe)
        conversations = stored.load_conversations()
        # Also a dataset built before the models were ready: the run's own tokenizer.
        dataset_rules.refuse_model_tokens(conversations, special_tokens_at(config.llm_path))
        check_lengths(conversations, config.llm_path,
                      config.visual_encoder_path, options.max_length)
        needed = estimate_run_bytes(config.llm_path, checkpoints_at_peak(
            self.iterations(stored.samples, options), options.save_steps,
            options.save_total_limit), checkpoint_contents(config.recipe, config.deepspeed))
        if self.quota is not None:
            self.quota.check(owner, needed)
        # Refuse before anything is written (MemoryCheckError; nothing to check on a CPU).
        self.check_gpu_memory(config.llm_path, config.visual_encoder_path, options,
                              config.recipe)
        # Reserved until the run ends; a refusal from here on (full queue,
        # full disk) removes the run's folder again.
        with self.budget.reserve(run_id, run_dir, needed):
            return self._write_and_submit(run_id, run_dir, config, dataset_id, stored,
                                          options, owner)

    def _write_and_submit(self, run_id: str, run_dir: Path, config: TrainConfig,
                          dataset_id: str, stored, options: TrainOptions, owner: str) -> dict:
        # The run keeps its own copy of the data: deleting a dataset or editing
        # it later never changes what a finished run was trained on.
        data_dir = run_dir / "data"
        data_dir.mkdir(parents=True)
        shutil.copy2(stored.image, config.image_file)
        shutil.copy2(stored.data_file, config.data_file)
        shutil.copy2(stored.unique_file, data_dir / "unique_data.json")
        config.questions_file.write_text(json.dumps(stored.questions(), ensure_ascii=False),
                                         encoding="utf-8")
        write_configs(config)
        max_iters = self.iterations(stored.samples, options)
        steps = [
            Step("train", self.launcher.train_argv(config, self.python), "running",
                 tasks=self.launcher.tasks),
            Step("convert_pretrain", convert_command(
                config.pretrain_config_file, config.pretrained_pth, run_dir / "hf_pretrain",
                self.python), "converting"),
            Step("convert_finetuned", convert_command(
                config.config_file, Path(LATEST_CHECKPOINT), run_dir / "hf_finetuned",
                self.python), "converting"),
        ]
        (run_dir / "commands.txt").write_text(terminal_commands(config, f"iter_{max_iters}.pth")
                                              + "\n", encoding="utf-8")
        spec = JobSpec(run_id=run_id, dataset_id=dataset_id, run_dir=run_dir, steps=steps,
                       max_iters=max_iters, owner=owner, options=recorded_options(config),
                       env=self.step_env(),
                       memory_bytes=self.launcher.memory_estimate(
                           config.llm_path, config.visual_encoder_path, options, config.recipe),
                       device_count=self.launcher.nproc)
        return self.jobs.submit(spec)
