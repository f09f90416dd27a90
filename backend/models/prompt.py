"""The chat prompt the models see, and the error a model gives when it cannot answer."""
from __future__ import annotations

from backend.errors import StudioError

MAX_NEW_TOKENS = 128


class ChatError(StudioError, RuntimeError):
    """A model cannot answer (missing conversion, unknown run)."""


def prompt_ids(tokenizer, turns, question: str) -> list[int]:
    """The InternLM2 chat prompt of earlier (question, answer) turns plus the
    new question, with xtuner's image placeholder id where the image goes."""
    from xtuner.utils import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX, PROMPT_TEMPLATE

    template = PROMPT_TEMPLATE["internlm2_chat"]
    text = ""
    for index, (asked, answered) in enumerate([*turns, (question, None)]):
        asked = f"{DEFAULT_IMAGE_TOKEN}\n{asked}" if index == 0 else asked
        text += template["INSTRUCTION"].format(input=asked, round=index + 1)
        if answered is not None:
            text += answered + template["SUFFIX"] + template["SEP"]
    before, after = text.split(DEFAULT_IMAGE_TOKEN, 1)
    return (tokenizer.encode(before) + [IMAGE_TOKEN_INDEX]
            + tokenizer.encode(after, add_special_tokens=False))
