"""The resident chat models and the GPU they share with training.

The chat models stay loaded while runs train beside them: a run is placed
where the GPU's free memory covers it, and only when it needs the memory the
chat models hold does JobManager's before_job unload them (the placement says
so). They load beside training when their own memory check passes, but not
while a run placed on their GPU is still starting (its memory is not taken
yet, so the free memory says nothing); and while they load, no run is placed
on their GPU (``loading_gpus``).
"""
from __future__ import annotations

import os
from typing import Callable

from backend.models.chat import ChatError, ChatModels
from backend.models.paths import ModelPaths


class ResidentChat:
    """Hands out the one ChatModels (loaded on first use) and arbitrates the GPU."""

    def __init__(self, model_paths: Callable[[], ModelPaths], device: str,
                 starting_gpus: Callable[[], set[int]]):
        self._model_paths = model_paths
        self.device = device
        self._starting_gpus = starting_gpus  # JobManager.starting_gpus
        self._chat: ChatModels | None = None

    def chat(self) -> ChatModels:
        """The chat models (CompareService's provider)."""
        if self._chat is None:
            check = self._check_before_loading if self.device == "cuda" else None
            self._chat = ChatModels(self._model_paths(), self.device, memory_check=check)
        return self._chat

    def before_job(self, _spec, placement) -> None:
        """JobManager's before_job: unload the chat models when the run was
        placed on the memory they hold (``placement.reclaim``)."""
        if self.device == "cuda" and self._chat is not None and placement.reclaim:
            self._chat.unload()

    def reserved_bytes(self) -> dict[int, int]:
        """What the chat models hold now: a run that needs it gets it."""
        return chat_reserved_bytes(self._chat)

    def loading_gpus(self) -> frozenset[int]:
        """The GPU the chat models are loading onto now (none otherwise)."""
        if self._chat is None or not self._chat.loading or self.device != "cuda":
            return frozenset()
        gpu = chat_gpu()
        return frozenset() if gpu is None else frozenset({gpu})

    def _check_before_loading(self, paths: ModelPaths) -> None:
        # ChatModels.loading is already set here: a run placed from now on
        # avoids this GPU, and one placed before is seen as starting below.
        if chat_gpu() in self._starting_gpus():
            raise ChatError("A training run is starting on the GPU and has not taken its "
                            "memory yet; compare again in a minute.")
        chat_memory_check(paths)


def chat_memory_check(paths: ModelPaths) -> None:
    """The chat models' memory check against what this GPU has free now."""
    import torch

    from backend.training.memory import check_chat

    free, _total = torch.cuda.mem_get_info()
    check_chat(paths.llm, paths.visual_encoder, {torch.cuda.current_device(): free})


def chat_reserved_bytes(chat: ChatModels | None) -> dict[int, int]:
    """GPU memory the resident chat models hold, by nvidia-smi index: freed for
    a run that needs it (before_job), so the checks count it as free."""
    if chat is None or not chat.loaded or not chat.device.startswith("cuda"):
        return {}
    import torch

    physical = chat_gpu()
    if physical is None:
        return {}  # GPU UUIDs or MIG names: no index to credit, so no credit
    return {physical: torch.cuda.memory_reserved(torch.cuda.current_device())}


def chat_gpu() -> int | None:
    """The nvidia-smi index of the GPU the app's chat models use (None: not
    an index, e.g. a MIG name in CUDA_VISIBLE_DEVICES)."""
    import torch

    index = torch.cuda.current_device()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    try:
        return int(visible.split(",")[index]) if visible else index
    except (ValueError, IndexError):
        return None
