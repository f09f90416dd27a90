"""The environment every xtuner subprocess of the app gets (one place)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = Path(__file__).resolve().parent / "trainer_side" / "site"


def thread_env(threads: int) -> dict:
    """The variables that set a subprocess's CPU threads (on 2 cores one a
    run is 3-45x faster than oversubscribing them)."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def subprocess_env(threads: int) -> dict:
    """Environment for xtuner subprocesses: our fixes, offline, few threads.

    Our folders go first on PYTHONPATH (sitecustomize must be ours); whatever
    the server was started with stays behind them, since that may be where
    xtuner itself lives (a --target install, a shared site folder)."""
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    ours = [str(SITE_DIR), str(REPO_ROOT)]
    python_path = os.pathsep.join(ours + [p for p in inherited if p not in ours])
    return {
        "PYTHONPATH": python_path,
        **thread_env(threads),
        "STUDIO_MAP_NUM_PROC": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # The lesson's "解决小bug" (xtuner issue #350).
        "MKL_SERVICE_FORCE_INTEL": "1",
        "MKL_THREADING_LAYER": "GNU",
        # mmengine checkpoints are pickles of our own runs; torch >= 2.6
        # refuses them on --resume otherwise.
        "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
