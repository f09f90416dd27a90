"""Text that would change the prompt the model sees rather than be part of it.

One rule for every place user text reaches the model (Q&A for a dataset,
compare questions and their history): refuse the image token, the chat
template's markers, and every special token of the model's own tokenizer
(``</s>`` typed into a question ends the sequence for the model; ``<s>``,
``<unk>``, a tool marker... each means something to it that plain text
does not). The tokenizer's list is read from the tokenizer itself, so a
profile with another model is covered without editing a list here.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable

IMAGE_TOKEN = "<image>"
# InternLM2's chat template: refused even before a tokenizer is at hand.
TEMPLATE_MARKERS = ("<|im_start|>", "<|im_end|>", "<|action_start|>",
                    "<|action_end|>", "<|interpreter|>", "<|plugin|>")


@functools.lru_cache(maxsize=4)
def tokenizer_at(llm_path: str):
    """The LLM folder's tokenizer, loaded once per folder."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(llm_path, trust_remote_code=True)


def tokenizer_special_tokens(tokenizer) -> frozenset[str]:
    """Every special token a tokenizer knows: its named ones (bos, eos, unk,
    pad, additional) and each added token it marks special."""
    tokens = set(tokenizer.all_special_tokens)
    for added in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(added, "special", False):
            tokens.add(str(added.content))
    return frozenset(token for token in tokens if token.strip())


@functools.lru_cache(maxsize=4)
def _special_tokens_at(llm_path: str) -> frozenset[str]:
    return tokenizer_special_tokens(tokenizer_at(llm_path))


def special_tokens_at(llm_path: Path | str) -> frozenset[str]:
    """The special tokens of the tokenizer in the LLM folder (cached)."""
    return _special_tokens_at(str(llm_path))


def first_reserved(text: str, model_tokens: Iterable[str] = ()) -> str | None:
    """The first reserved token found in text (longest first, so a message
    names ``<|im_end|>`` rather than a shorter token inside it), else None."""
    candidates = {IMAGE_TOKEN, *TEMPLATE_MARKERS, *model_tokens}
    for token in sorted(candidates, key=len, reverse=True):
        if token in text:
            return token
    return None


def reserved_message(token: str, subject: str) -> str:
    """Why a reserved token is refused, in words a student can act on."""
    if token == IMAGE_TOKEN:
        return (f"{subject} contains '{IMAGE_TOKEN}'. The app puts the one image token at "
                "the start of the first question; remove it here.")
    return (f"{subject} contains '{token}', a chat-template token or special token of the "
            "model's tokenizer: it would change the prompt the model sees (as its chat "
            "template marks turns with such tokens). Remove it.")
