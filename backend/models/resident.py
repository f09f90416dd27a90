"""The resident chat models and the GPU they share with training.

On a GPU, training and the chat models never hold its memory at once: chat is
refused while a run trains, the models are unloaded before any run starts, and
the memory they held counts as free for that run's memory check. Conversions
may run beside chat (they hold little, briefly).
"""
from __future__ import annotations

import os
from typing import Callable

from backend.models.chat import ChatError, ChatModels
from backend.models.paths import ModelPaths


class ResidentChat:
    """Hands out the one ChatModels (loaded on first use) and arbitrates the GPU."""

    def __init__(self, model_paths: Callable[[], ModelPaths], device: str,
                 training_run: Callable[[], str | None]):
        self._model_paths = model_paths
        self.device = device
        self._training_run = training_run  # JobManager.training_run
        self._chat: ChatModels | None = None

    def chat(self) -> ChatModels:
        """The chat models (CompareService's provider); refused while a run trains."""
        if self.device == "cuda":
            self._refuse_while_training()
        if self._chat is None:
            check = self._check_before_loading if self.device == "cuda" else None
            self._chat = ChatModels(self._model_paths(), self.device, memory_check=check)
        return self._chat

    def before_job(self, _spec, _placement=None) -> None:
        """JobManager's before_job: training and chat never hold the same GPU memory."""
        if self.device == "cuda" and self._chat is not None:
            self._chat.unload()

    def reserved_bytes(self) -> dict[int, int]:
        """What the chat models hold now, freed before any run starts."""
        return chat_reserved_bytes(self._chat)

    def _refuse_while_training(self) -> None:
        if self._training_run() is not None:
            raise ChatError("A training run is using the GPU; compare when its training "
                            "has finished.")

    def _check_before_loading(self, paths: ModelPaths) -> None:
        # Runs under the chat models' load lock, which unload() (before_job)
        # also takes: a run that started since chat() was called is seen here.
        self._refuse_while_training()
        chat_memory_check(paths)


def chat_memory_check(paths: ModelPaths) -> None:
    """The chat models' memory check against what this GPU has free now."""
    import torch

    from backend.training.memory import check_chat

    free, _total = torch.cuda.mem_get_info()
    check_chat(paths.llm, paths.visual_encoder, {torch.cuda.current_device(): free})


def chat_reserved_bytes(chat: ChatModels | None) -> dict[int, int]:
    """GPU memory the resident chat models hold, by nvidia-smi index: freed
    before any run starts (before_job), so the training check counts it free."""
    if chat is None or not chat.loaded or not chat.device.startswith("cuda"):
        return {}
    import torch

    index = torch.cuda.current_device()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    try:
        physical = int(visible.split(",")[index]) if visible else index
    except (ValueError, IndexError):
        return {}  # GPU UUIDs or MIG names: no index to credit, so no credit
    return {physical: torch.cuda.memory_reserved(index)}
