"""Checkpoint names: the one module that knows how mmengine and xtuner name them.

mmengine saves ``train/iter_N.pth`` (N = finished iterations; after DeepSpeed a
folder of that name) and writes the newest complete one's path into
``train/last_checkpoint`` once its save is done.
"""
from __future__ import annotations

import re
from pathlib import Path

LAST_CHECKPOINT_FILE = "last_checkpoint"
_NAME = re.compile(r"^iter_(\d+)\.pth$")


def name_of(iteration: int) -> str:
    """``iter_N.pth``."""
    return f"iter_{iteration}.pth"


def label_of(iteration: int) -> str:
    """``iter_N``: a checkpoint as the page and the API name it (Compare's "after")."""
    return name_of(iteration)[:-len(".pth")]


def iteration_of_label(label: str) -> int | None:
    """N of ``iter_N``; None for any other label."""
    return iteration_of(label + ".pth") if "/" not in label else None


def iteration_of(path: Path | str) -> int | None:
    """N of ``iter_N.pth`` (a file or a DeepSpeed folder); None for any other name."""
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def saved(train_dir: Path) -> list[tuple[int, Path]]:
    """Every ``iter_N.pth`` in ``train_dir``, by iteration."""
    found = ((iteration_of(p), p) for p in train_dir.glob("iter_*.pth"))
    return sorted((n, p) for n, p in found if n is not None)


def latest_checkpoint(train_dir: Path) -> Path | None:
    """The newest complete ``iter_N.pth`` mmengine saved. mmengine names it in
    ``last_checkpoint`` only once the save is done; a run stopped halfway
    through writing a 6 GB checkpoint leaves a newer, truncated file, which
    must not be resumed from. Runs without that file: by iteration number."""
    named = train_dir / LAST_CHECKPOINT_FILE
    if named.is_file():
        saved_path = Path(named.read_text().strip())
        if not saved_path.is_absolute():
            saved_path = train_dir / saved_path
        if saved_path.exists():
            return saved_path
    found = saved(train_dir)
    return found[-1][1] if found else None


def resume_argv(argv: list[str], checkpoint: Path) -> list[str]:
    """A training command that continues from ``checkpoint`` (any earlier --resume dropped)."""
    argv = list(argv)
    if "--resume" in argv:
        index = argv.index("--resume")
        del argv[index:index + 2]
    return argv + ["--resume", str(checkpoint)]
