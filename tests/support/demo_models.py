"""The demo models the slow tests share: built once per machine, by the first test
that asks, which keeps the progress the build reported beside them.

tests/service/test_demo_profile.py checks that record instead of building a second
copy (about 2.5 minutes on two cores): what it checks is still a real build's.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_RECORD = "build-progress.json"


def shared_models_root() -> Path:
    """STUDIO_TEST_MODELS_DIR (default work/test-models): the app's --models-dir."""
    return Path(os.environ.get("STUDIO_TEST_MODELS_DIR", ROOT / "work" / "test-models"))


def ensure_shared_demo_models() -> Path:
    """The shared models' root, built first if they are not there yet."""
    from backend.models.demo.build import ensure_demo_models

    root = shared_models_root()
    seen: list[tuple[float, str]] = []
    ensure_demo_models(root / "demo", lambda fraction, message: seen.append((fraction, message)))
    if len(seen) > 1:  # this call built them (a cache hit reports once)
        (root / BUILD_RECORD).write_text(json.dumps(seen), encoding="utf-8")
    return root


def recorded_build() -> tuple[Path, list[tuple[float, str]]] | None:
    """The shared models' folder and the progress their build reported; None
    when they were built without a record (an older checkout built them)."""
    root = ensure_shared_demo_models()
    try:
        seen = json.loads((root / BUILD_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return root / "demo", [(fraction, message) for fraction, message in seen]
