"""What a trained run's checkpoints hold, read the way mmengine's resume reads them."""
from pathlib import Path


def holds_optimizer(checkpoint: Path) -> bool:
    """Adam's state is in this iter_N.pth (mmengine's Runner.resume restores it only then)."""
    import torch

    return "optimizer" in torch.load(checkpoint, map_location="cpu", weights_only=False)


def saved_iterations(train_dir: Path) -> list[int]:
    """N of every iter_N.pth in a run's train folder, oldest first."""
    return sorted(int(p.stem.split("_")[1]) for p in train_dir.glob("iter_*.pth"))
