"""Will a run fit on disk? An estimate from the model sizes, checked up front."""
from __future__ import annotations

import shutil
from pathlib import Path
from backend.errors import StudioError
from backend.xtuner.recipes import CheckpointContents

# Measured on the lesson's recipe: a checkpoint (fp32 LoRA r=512 + optimizer
# state) is ~1.8x the LLM folder (6.7 GB vs 3.8 GB); each pth_to_hf output
# ~0.3x. Rounded up so the estimate errs on the safe side.
CHECKPOINT_FACTOR = 2.0
# Without Adam's two moments, the weights alone (fp32 LoRA r=512 on the LLM, CLIP's
# r=64, the projector): 2.2 GiB as the fast recipe saves them (docs/gpu.md), 2.4 GB /
# 3.8 GB ~ 0.62x. Rounded up to 0.7, as the full one is (1.8x -> 2.0): a third of
# 2.0 would be too tight.
LEAN_CHECKPOINT_FACTOR = 0.7
CONVERTED_FACTOR = 0.4
MIN_FREE_BYTES = 200 * 1024 * 1024


class DiskSpaceError(StudioError, RuntimeError):
    """Not enough free disk for a run; the message says how much is needed."""


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def checkpoints_at_peak(max_iters: int, save_steps: int, save_total_limit: int) -> int:
    """Checkpoints a run has on disk at once: mmengine saves every save_steps
    and at the end, and removes the oldest beyond save_total_limit only after
    writing the next. A short run that saves once holds one, whatever the limit
    (a class of lesson runs at ~6.5 GB a checkpoint is short of disk otherwise).
    A Stop's extra checkpoint is not counted: Resume checks no disk either."""
    saves = -(-max_iters // save_steps)
    return max(1, min(saves, save_total_limit + 1))


def checkpoints_factor(checkpoints: int, contents: CheckpointContents) -> float:
    """``checkpoints`` at once, in LLM folders: one is the final checkpoint,
    the others save_steps ones. Safe also when the peak comes before the end:
    mmengine 0.10 removes the oldest checkpoint before writing the next
    (CheckpointHook._save_checkpoint_with_step), so checkpoints_at_peak's
    count beyond save_total_limit is a spare that covers the lean final."""
    earlier = CHECKPOINT_FACTOR if contents.optimizer else LEAN_CHECKPOINT_FACTOR
    final = CHECKPOINT_FACTOR if contents.final_optimizer else LEAN_CHECKPOINT_FACTOR
    return earlier * (checkpoints - 1) + final


def estimate_run_bytes(llm_dir: Path, checkpoints: int, contents: CheckpointContents) -> int:
    """``checkpoints`` on disk at once (checkpoints_at_peak) holding ``contents``
    (recipes.checkpoint_contents), and two converted folders."""
    llm = folder_bytes(llm_dir)
    return int(llm * (checkpoints_factor(checkpoints, contents) + 2 * CONVERTED_FACTOR)) \
        + MIN_FREE_BYTES


def check_free_space(target: Path, needed: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target).free
    if free < needed:
        raise DiskSpaceError(
            f"Not enough free disk in {target}: this run needs about "
            f"{needed / 1e9:.1f} GB, {free / 1e9:.1f} GB are free. Delete old runs "
            "or lower save_total_limit.")
