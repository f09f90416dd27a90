"""mmengine hooks that rendered configs use inside the training subprocess.

xtuner's configs are mmengine "lazy import" configs: nothing can be computed
while loading them, so user questions cannot be read from a file there. This
hook reads them itself, which keeps user text out of the Python config.
"""
from __future__ import annotations

import json

from xtuner.engine.hooks import EvaluateChatHook

from . import xtuner_patches  # noqa: F401  (the subprocess needs the fixes)


class QuestionsFileEvaluateChatHook(EvaluateChatHook):
    """EvaluateChatHook whose questions come from a JSON list in a file."""

    def __init__(self, questions_file: str, **kwargs):
        with open(questions_file, encoding="utf-8") as handle:
            questions = json.load(handle)
        if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
            raise ValueError(f"{questions_file} must hold a JSON list of strings")
        kwargs.pop("evaluation_inputs", None)
        super().__init__(evaluation_inputs=questions, **kwargs)
