"""Refuse conversations that would not fit the model's max length.

xtuner silently truncates what is longer than ``max_length``; a student
would then train on answers cut in half. Count real tokens up front and
name the row instead.
"""
from __future__ import annotations

import json
from pathlib import Path

from backend.data.dataset import Conversation, DatasetError, prompt_preview
from backend.data.special_tokens import tokenizer_at


def image_tokens(visual_encoder_path: Path) -> int:
    """How many embeddings one image takes in the LLM input (CLIP patches)."""
    config = json.loads((visual_encoder_path / "config.json").read_text(encoding="utf-8"))
    vision = config.get("vision_config", config)
    return (vision["image_size"] // vision["patch_size"]) ** 2


def check_lengths(conversations: list[Conversation], llm_path: Path,
                  visual_encoder_path: Path, max_length: int) -> None:
    tokenizer = tokenizer_at(str(llm_path))
    budget = max_length - image_tokens(visual_encoder_path)
    for number, conversation in enumerate(conversations, start=1):
        text = prompt_preview(conversation).replace("<image>", "")
        used = len(tokenizer.encode(text))
        if used > budget:
            raise DatasetError(
                f"Row {number}: the conversation is {used} tokens; with the image it must "
                f"fit in {max_length} (at most {budget} tokens of text). Shorten it.")
