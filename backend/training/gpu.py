"""Which GPUs a run uses, how xtuner is launched on them, and which recipe.

xtuner's own ``xtuner train`` starts torchrun when NPROC_PER_NODE (or NNODES)
is above 1 (xtuner/entry_point.py); we build the same torchrun argument list
ourselves, because the ``xtuner`` wrapper exits 0 even when training fails.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

from backend.xtuner.recipes import DEEPSPEED_CHOICES, FAST, LESSON, Recipe
from backend.errors import StudioError
from backend.runs.spec import FREE_PORT
from backend.xtuner.config import train_script_args


class GpuSelectionError(StudioError, ValueError):
    """The requested GPUs do not exist (message says which do)."""


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    total_bytes: int
    free_bytes: int


def list_gpus() -> list[GpuInfo]:
    """The machine's GPUs with free memory, via nvidia-smi (no CUDA context
    in the app process); empty when there is none."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,name,memory.total,memory.free",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out)


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            continue
        index, name, total, free = parts
        mib = 1024 ** 2
        gpus.append(GpuInfo(int(index), name, int(float(total)) * mib, int(float(free)) * mib))
    return gpus


def select_gpus(gpus: list[GpuInfo], request: str | int | None = None) -> list[GpuInfo]:
    """Pick GPUs: None/"auto" = the one with most free memory; "all"; an int
    N = the N with most free memory; a string "0,2" = exactly those indices."""
    if not gpus:
        raise GpuSelectionError("No CUDA GPU is visible on this machine.")
    by_free = sorted(gpus, key=lambda g: (-g.free_bytes, g.index))
    if request in (None, "", "auto"):
        return by_free[:1]
    if request == "all":
        return sorted(gpus, key=lambda g: g.index)
    if isinstance(request, int):
        count = int(request)
        if not 1 <= count <= len(gpus):
            raise GpuSelectionError(f"Asked for {count} GPUs; this machine has {len(gpus)}.")
        return sorted(by_free[:count], key=lambda g: g.index)
    known = {g.index: g for g in gpus}
    try:
        wanted = [int(part) for part in str(request).split(",") if part.strip()]
    except ValueError:
        raise GpuSelectionError(f"GPU list {request!r} is not like '0,1'.") from None
    missing = [i for i in wanted if i not in known]
    if missing or not wanted or len(set(wanted)) != len(wanted):
        raise GpuSelectionError(f"GPU(s) {missing or wanted} not usable; "
                                f"this machine has {sorted(known)}.")
    return [known[i] for i in wanted]


@dataclass(frozen=True)
class Launch:
    """How one training run is started on its GPUs."""

    gpu_indices: tuple[int, ...]
    deepspeed: str = ""          # "" or "deepspeed_zero2" (xtuner's name)
    # A number, or FREE_PORT: filled in when the run starts (runs/step_runner.py),
    # since several torchrun runs at once each need their own.
    master_port: int | str = 29500

    def __post_init__(self):
        if not self.gpu_indices:
            raise GpuSelectionError("A launch needs at least one GPU.")
        if self.deepspeed and self.deepspeed not in DEEPSPEED_CHOICES:
            raise GpuSelectionError(f"Unknown DeepSpeed config {self.deepspeed!r}; "
                                    f"known: {', '.join(DEEPSPEED_CHOICES)}.")

    @property
    def nproc(self) -> int:
        return len(self.gpu_indices)

    def env(self) -> dict:
        """Environment for the training subprocess."""
        env = {
            # Index order = PCI order, the one nvidia-smi reports.
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in self.gpu_indices),
            "NPROC_PER_NODE": str(self.nproc),
            "NNODES": "1",
        }
        if self.nproc > 1:
            env["PORT"] = str(self.master_port)
            env["ADDR"] = "127.0.0.1"
        return env

    def train_argv(self, config_file: Path, work_dir: Path, python: str = sys.executable,
                   resume: Path | None = None) -> list[str]:
        """The argument list xtuner's entry point would run (never a shell string)."""
        script_args = train_script_args(config_file, work_dir, self.deepspeed, resume)
        if self.nproc == 1:
            return [python, "-m", "xtuner.tools.train"] + script_args
        # = xtuner/entry_point.py: torchrun --nnodes --node_rank --nproc_per_node
        #   --master_addr --master_port <tools/train.py> ARGS --launcher pytorch
        return [python, "-m", "torch.distributed.run", "--nnodes=1", "--node_rank=0",
                f"--nproc_per_node={self.nproc}", "--master_addr=127.0.0.1",
                f"--master_port={self.master_port}", _train_script()] + script_args + [
                "--launcher", "pytorch"]


def _train_script() -> str:
    from importlib.util import find_spec

    return str(Path(find_spec("xtuner").origin).parent / "tools" / "train.py")


def choose_recipe(request: str, fits_fast: bool) -> Recipe:
    """"auto" = fast where its memory estimate fits the chosen GPUs, else the
    lesson's QLoRA; "lesson"/"fast" are taken as asked (the memory check
    still refuses what cannot fit)."""
    if request == "auto":
        return FAST if fits_fast else LESSON
    return {"lesson": LESSON, "fast": FAST}.get(request) or _unknown(request)


def _unknown(request: str) -> Recipe:
    raise GpuSelectionError(f"Unknown recipe {request!r}; use auto, lesson or fast.")


@dataclass(frozen=True)
class GpuSetup:
    """What TrainingService needs on CUDA: the recipe, how one run is launched
    (``launch``: its GPU count and DeepSpeed; which GPUs it gets is decided
    when it starts), and the free memory seen at start-up on every GPU the
    runs share (``free_bytes``: its keys are the pool)."""

    recipe: Recipe
    launch: Launch
    free_bytes: dict[int, int]

    @property
    def pool(self) -> tuple[int, ...]:
        return tuple(sorted(self.free_bytes))

    def describe(self) -> str:
        """One line for the page: where and how runs train."""
        gpus = ",".join(str(i) for i in self.pool)
        if self.pool == tuple(sorted(self.launch.gpu_indices)):
            where = f"GPU {gpus}" if self.launch.nproc == 1 else f"GPUs {gpus} (torchrun)"
        else:
            where = f"GPUs {gpus}, {self.launch.nproc} a run" + (
                " (torchrun)" if self.launch.nproc > 1 else "")
        parts = [where, f"recipe {self.recipe.name}"]
        if self.launch.deepspeed:
            parts.append(f"DeepSpeed {self.launch.deepspeed}")
        return " · ".join(parts)

    def config_fields(self, recipe: Recipe | None = None) -> dict:
        """TrainConfig keywords for a run's recipe (None: the server's) and this launch."""
        recipe = recipe or self.recipe
        return {"quantize_4bit": recipe.quantize_4bit, "recipe": recipe,
                "deepspeed": self.launch.deepspeed}

    def training_estimate(self, llm_path: Path, visual_encoder_path: Path, options,
                          recipe: Recipe | None = None) -> int:
        """Estimated peak bytes on each of a run's GPUs with its recipe (None:
        the server's), what the scheduler admits it by. Sequence length is the
        worst case: max_length text tokens plus the image patches."""
        from backend.training.memory import dims_from_dirs, training_bytes

        recipe = recipe or self.recipe
        dims = dims_from_dirs(llm_path, visual_encoder_path)
        return training_bytes(
            dims, quantize_4bit=recipe.quantize_4bit, batch_size=options.batch_size,
            seq_len=options.max_length + dims.image_tokens - 1,
            llm_lora_r=options.llm_lora_r,
            visual_lora_r=recipe.visual_lora_rank(options),
            activation_checkpointing=recipe.activation_checkpointing,
            nproc=self.launch.nproc, deepspeed=self.launch.deepspeed,
            frozen_in_amp_dtype=recipe.frozen_in_amp_dtype)

    def check_training(self, llm_path: Path, visual_encoder_path: Path, options,
                       released: dict[int, int] | None = None,
                       held: Collection[int] = (), recipe: Recipe | None = None) -> None:
        """Refuse (MemoryCheckError) a run that would not fit the best of the
        pool's GPUs, as many as a run takes. ``released``: bytes per GPU freed
        before a run starts (the app's own chat models). ``held``: GPUs the
        app's own runs hold now; a new run waits in the queue until they have
        room, so what is free there now says nothing about it: start-up's
        figure counts there instead."""
        from backend.training.memory import check_fits

        recipe = recipe or self.recipe
        need = self.training_estimate(llm_path, visual_encoder_path, options, recipe)
        hint = ("Choose the lesson recipe, a smaller batch_size or max_length, or more GPUs."
                if recipe.name != "lesson" else
                "Lower batch_size or max_length, or free the GPU (another program on it?).")
        now = self.free_now() if set(self.pool) - set(held) else {}
        free = {i: self.free_bytes[i] if i in held else now[i] + (released or {}).get(i, 0)
                for i in self.pool}
        best = sorted(free, key=lambda i: (-free[i], i))[:self.launch.nproc]
        check_fits(f"training with the {recipe.name} recipe", need,
                   {i: free[i] for i in sorted(best)}, hint)

    def free_now(self) -> dict[int, int]:
        """Free memory on the pool's GPUs now (another program or a chat model
        may hold some since start-up); the start-up figure where nvidia-smi
        cannot tell."""
        now = {gpu.index: gpu.free_bytes for gpu in list_gpus()}
        return {i: now.get(i, self.free_bytes[i]) for i in self.pool}


# mmengine 0.10.6 imports deepspeed.runtime.fp16.onebit, which later DeepSpeed
# releases dropped (0.19.8 fails there; 0.16.9 trains: bench/RESULTS.md).
MMENGINE_VERSION = "0.10.6"
DEEPSPEED_VERSION = "0.16.9"


def deepspeed_usable() -> bool:
    """deepspeed is installed and still has what mmengine imports (looked up
    on disk: importing deepspeed takes seconds)."""
    spec = importlib.util.find_spec("deepspeed")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(folder) / "runtime" / "fp16" / "onebit").is_dir()
               for folder in spec.submodule_search_locations)


def check_deepspeed(deepspeed: str) -> None:
    """--deepspeed needs a deepspeed mmengine can load (GpuSelectionError)."""
    if deepspeed and not deepspeed_usable():
        raise GpuSelectionError(
            f"--deepspeed {deepspeed} needs the deepspeed package at a version mmengine "
            f"{MMENGINE_VERSION} can load: pip install 'deepspeed=={DEEPSPEED_VERSION}' "
            "(see docs/gpu.md), or leave out --deepspeed.")


def gpu_setup(recipe_request: str = "auto", gpu_request: str | int | None = None,
              deepspeed: str = "", llm_path: Path | None = None,
              visual_encoder_path: Path | None = None, gpus_per_run: int = 1) -> GpuSetup:
    """Pick the GPUs runs share, how many one run takes, and the recipe for
    this machine ("auto": fast where its default options fit, else the
    lesson's QLoRA)."""
    from backend.training.memory import MemoryCheckError

    check_deepspeed(deepspeed)
    gpus = select_gpus(list_gpus(), gpu_request)
    if not 1 <= gpus_per_run <= len(gpus):
        raise GpuSelectionError(f"--gpus-per-run {gpus_per_run} needs 1 to {len(gpus)} "
                                f"(the GPUs --gpus selects: {[g.index for g in gpus]}).")
    launch = Launch(tuple(g.index for g in gpus[:gpus_per_run]), deepspeed=deepspeed,
                    master_port=FREE_PORT if gpus_per_run > 1 else 29500)
    free = {g.index: g.free_bytes for g in gpus}
    fits_fast = True
    if recipe_request == "auto" and llm_path and visual_encoder_path:
        try:
            GpuSetup(FAST, launch, free).check_training(llm_path, visual_encoder_path,
                                                        FAST.options)
        except MemoryCheckError:
            fits_fast = False
    return GpuSetup(choose_recipe(recipe_request, fits_fast), launch, free)
