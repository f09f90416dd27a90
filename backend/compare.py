"""Side by side: the pretrain-only model and a run's finetuned model."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Iterator

from . import images
from .chat import BASE, ChatError, ChatModels, Dialogue
from .jobs import JobManager

MAX_QUESTION_CHARS = 1000


class CompareService:
    def __init__(self, chat: Callable[[], ChatModels], jobs: JobManager, scratch: Path):
        self._chat = chat  # deferred: the demo profile may still be building
        self.jobs = jobs
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)

    def _checked_image(self, image_path: str | Path) -> str:
        # Validated and re-encoded, so the model only ever opens our own file.
        image = images.open_checked(image_path)
        handle = tempfile.NamedTemporaryFile(dir=self.scratch, suffix=".jpg", delete=False)
        handle.close()
        images.save_normalized(image, Path(handle.name))
        return handle.name

    def _finetuned_name(self, run_id: str) -> str:
        snapshot = self.jobs.snapshot(run_id)
        if snapshot["state"] != "done":
            raise ChatError(f"Run {run_id} is {snapshot['state']}; compare needs a finished run.")
        chat = self._chat()
        chat.attach(run_id, self.jobs.run_dir(run_id) / "hf_finetuned")
        return run_id

    def stream(self, run_id: str, image_path: str | Path, question: str,
               history: dict | None = None) -> Iterator[dict]:
        """Yield {"base": ..., "finetuned": ..., "done": bool} as tokens arrive.

        ``history`` holds each model's own earlier turns for follow-ups.
        """
        question = (question or "").strip()
        if not question:
            raise ChatError("Type a question first.")
        if len(question) > MAX_QUESTION_CHARS:
            raise ChatError(f"Questions are limited to {MAX_QUESTION_CHARS} characters.")
        image = self._checked_image(image_path)
        try:
            finetuned = self._finetuned_name(run_id)
            history = history or {}
            dialogues = [Dialogue(BASE, image, list(history.get("base", []))),
                         Dialogue(finetuned, image, list(history.get("finetuned", [])))]
            requests = [(dialogue, question) for dialogue in dialogues]
            for (base, tuned), done in self._chat().stream_many(requests):
                yield {"base": base, "finetuned": tuned, "done": done}
        finally:
            Path(image).unlink(missing_ok=True)

    def compare(self, run_id: str, image_path: str | Path, question: str) -> dict:
        result = {"base": "", "finetuned": ""}
        for result in self.stream(run_id, image_path, question):
            pass
        return {"base": result["base"], "finetuned": result["finetuned"]}
