"""How much of a compare conversation goes into the prompt.

A follow-up question carries its earlier turns. Unbounded, eight long turns
held the class's single compare slot for two minutes and ran the prompt past
the model's positions (answers degenerate there). So the prompt keeps at
most MAX_TURNS of the newest turns, and fewer where they would not fit the
model's context with room for the answer; the oldest go first and the caller
tells the page how many. A question that does not fit even alone is refused.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from backend.models.prompt import MAX_NEW_TOKENS, ChatError, prompt_ids
from backend.data.length_check import image_tokens
from backend.models.paths import ModelPaths
from backend.data.special_tokens import tokenizer_at

MAX_TURNS = 6
# Beyond the model's positions, also a cap on the prompt itself: each compare
# holds the one compare slot for the whole class while it answers.
MAX_PROMPT_TOKENS = 1536
# Only a cost guard before tokenizing: no tokenizer packs more characters
# than this into one token on average, so text beyond it cannot fit anyway.
MAX_CHARS_PER_TOKEN = 16
DEFAULT_POSITIONS = 2048  # a config without max_position_embeddings

Turns = Sequence[tuple[str, str]]


class PromptTooLong(ChatError):
    """The question (with the image) alone does not fit the model's context."""

    def __init__(self, used: int, budget: int):
        super().__init__(f"The question is {used} tokens together with the image; the model "
                         f"takes at most {budget} here (room is kept for the answer). "
                         "Shorten the question.")
        self.used, self.budget = used, budget


def prompt_budget(positions: int, max_new_tokens: int = MAX_NEW_TOKENS) -> int:
    """Prompt tokens allowed: the model's positions less the answer's room, capped."""
    return min(positions - max_new_tokens, MAX_PROMPT_TOKENS)


def fit_turns(turns: Turns, question: str, count: Callable[[list, str], int], budget: int,
              max_turns: int = MAX_TURNS) -> tuple[list[tuple[str, str]], int]:
    """The newest turns whose prompt (``count``) fits ``budget``, and how many
    older ones were dropped."""
    kept = list(turns[-max_turns:]) if max_turns > 0 else []

    def characters() -> int:
        return len(question) + sum(len(q) + len(a) for q, a in kept)

    while kept and characters() > budget * MAX_CHARS_PER_TOKEN:
        kept.pop(0)
    while kept and count(kept, question) > budget:
        kept.pop(0)
    used = count(kept, question)
    if used > budget:
        raise PromptTooLong(used, budget)
    return kept, len(turns) - len(kept)


def model_positions(llm_path: Path) -> int:
    """The LLM's context length, from its config.json."""
    config = json.loads((Path(llm_path) / "config.json").read_text(encoding="utf-8"))
    return int(config.get("max_position_embeddings") or DEFAULT_POSITIONS)


def fit_history(paths: ModelPaths, turns: Turns, question: str,
                max_new_tokens: int = MAX_NEW_TOKENS) -> tuple[list[tuple[str, str]], int]:
    """fit_turns for the profile's models, counted with the LLM's tokenizer
    exactly as the prompt is built (the image counts as its CLIP patches);
    reads the model folders' files only, no weights."""
    tokenizer = tokenizer_at(str(paths.llm))
    image = image_tokens(paths.visual_encoder)

    def count(kept: list, asked: str) -> int:
        return len(prompt_ids(tokenizer, kept, asked)) - 1 + image  # -1: the image's id

    return fit_turns(turns, question, count,
                     prompt_budget(model_positions(paths.llm), max_new_tokens))
