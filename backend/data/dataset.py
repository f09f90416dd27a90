"""Image + Q&A pairs -> validated LLaVA records, repeated N times (pure).

The lesson's format is a list of
``{"id", "image", "conversations": [{"from": "human", "value": "<image>\\nQ"},
{"from": "gpt", "value": "A"}, ...]}``. xtuner's ``llava_map_fn`` reads the key
``conversations``; the lesson's template says ``conversation``, so we accept
both on import and always write ``conversations``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from backend.data.special_tokens import IMAGE_TOKEN, first_reserved, reserved_message
from backend.errors import StudioError

MAX_TEXT_CHARS = 2000
MAX_CONVERSATIONS = 200
MAX_REPEATS = 2000
MAX_TURNS = 20                        # question/answer turns in one conversation
MAX_DATASET_BYTES = 64 * 1024 * 1024  # the repeated dataset file (200 repeats of it)


class DatasetError(StudioError, ValueError):
    """Bad Q&A input; the message names the row so a student can fix it."""


class LimitError(DatasetError):
    """Over one of the limits above; names it, in the page's language (ui/messages.py)."""

    def __init__(self, key: str, text: str, **fields):
        self.message_key, self.message_fields = key, fields
        super().__init__(text)


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


@dataclass(frozen=True)
class Conversation:
    turns: tuple[Turn, ...]


def _clean(text: object, where: str, role: str, first_turn: bool) -> str:
    if not isinstance(text, str):
        raise DatasetError(f"{where}: the {role} must be text.")
    text = text.strip()
    if first_turn and role == "question" and text.startswith(IMAGE_TOKEN):
        text = text[len(IMAGE_TOKEN):].strip()
    if not text:
        raise DatasetError(f"{where}: the {role} is empty.")
    reserved = first_reserved(text)
    if reserved:
        raise DatasetError(f"{where}: {reserved_message(reserved, f'the {role}')}")
    if len(text) > MAX_TEXT_CHARS:
        raise DatasetError(
            f"{where}: the {role} has {len(text)} characters; "
            f"at most {MAX_TEXT_CHARS} are allowed.")
    return text


def conversations_from_rows(rows: list[tuple[object, object]]) -> list[Conversation]:
    """Each (question, answer) row becomes one single-turn conversation."""
    out = []
    for number, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise DatasetError(f"Row {number}: expected a question and an answer.")
        question, answer = row
        if _blank(question) and _blank(answer):
            continue  # the table editor leaves empty rows behind
        where = f"Row {number}"
        out.append(Conversation((Turn(_clean(question, where, "question", True),
                                      _clean(answer, where, "answer", False)),)))
    return _checked_count(out)


def refuse_model_tokens(conversations: list[Conversation], model_tokens: Iterable[str]) -> None:
    """The same rule as while parsing, with the model tokenizer's own special
    tokens added (known once the models are there: at start at the latest)."""
    model_tokens = frozenset(model_tokens)
    for number, conversation in enumerate(conversations, start=1):
        for index, turn in enumerate(conversation.turns, start=1):
            for role, text in (("question", turn.question), ("answer", turn.answer)):
                reserved = first_reserved(text, model_tokens)
                if reserved:
                    raise DatasetError(f"Conversation {number}, turn {index}: "
                                       + reserved_message(reserved, f"the {role}"))


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and value != value)  # pandas NaN


def _checked_count(conversations: list[Conversation]) -> list[Conversation]:
    if not conversations:
        raise DatasetError("Add at least one question with its answer.")
    if len(conversations) > MAX_CONVERSATIONS:
        raise LimitError("err_limit_rows", f"At most {MAX_CONVERSATIONS} conversations "
                         f"(rows) are allowed; got {len(conversations)}.",
                         limit=MAX_CONVERSATIONS, got=len(conversations))
    return conversations


def _check_image_name(value: object, where: str) -> None:
    """The import may name its image (the lesson's does), but only as a bare
    file name: the uploaded image is used, and no path is ever followed."""
    if value is None:
        return
    if not isinstance(value, str) or not value or "/" in value or "\\" in value \
            or value.startswith(".") or ":" in value or "\0" in value:
        raise DatasetError(f"{where}: the image must be a plain file name like "
                           f"'photo.jpg', not {str(value)[:80]!r}; the uploaded image is used.")


def _lesson_item_to_conversation(item: dict, number: int) -> Conversation:
    messages = item.get("conversations", item.get("conversation"))
    where = f"Item {number}"
    _check_image_name(item.get("image"), where)
    if not isinstance(messages, list) or not messages:
        raise DatasetError(f"{where}: needs a non-empty 'conversations' list.")
    if len(messages) > 2 * MAX_TURNS:
        raise LimitError("err_limit_turns", f"{where}: at most {MAX_TURNS} turns (question "
                         f"and answer) are allowed in one conversation; got "
                         f"{(len(messages) + 1) // 2}.", where=number, limit=MAX_TURNS,
                         got=(len(messages) + 1) // 2)
    turns = []
    for index in range(0, len(messages), 2):
        pair = messages[index:index + 2]
        roles = [m.get("from") if isinstance(m, dict) else None for m in pair]
        if roles != ["human", "gpt"]:
            raise DatasetError(
                f"{where}, message {index + 1}: expected a 'human' message followed by "
                f"a 'gpt' message, got {roles}.")
        turn_where = f"{where}, turn {index // 2 + 1}"
        turns.append(Turn(_clean(pair[0].get("value"), turn_where, "question", not turns),
                          _clean(pair[1].get("value"), turn_where, "answer", False)))
    return Conversation(tuple(turns))


def parse_qa_json(text: str) -> list[Conversation]:
    """Parse the lesson's ``unique_data.json`` format or a flat Q&A list.

    The flat form is ``[{"question": ..., "answer": ...}, ...]``. Image paths
    inside the lesson's format are ignored on purpose: the uploaded image is
    the only image a dataset ever uses.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as error:
        raise DatasetError(f"The Q&A JSON does not parse: {error}") from None
    except RecursionError:
        raise LimitError("err_json_nesting", "The Q&A JSON is nested too deeply to read; "
                         "the lesson's format needs 3 levels (list, conversation, message).",
                         what="Q&A JSON") from None
    if not isinstance(data, list):
        raise DatasetError("The Q&A JSON must be a list.")
    conversations = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise DatasetError(f"Item {number}: expected an object.")
        if "question" in item or "answer" in item:
            where = f"Item {number}"
            conversations.append(Conversation((Turn(
                _clean(item.get("question"), where, "question", True),
                _clean(item.get("answer"), where, "answer", False)),)))
        else:
            conversations.append(_lesson_item_to_conversation(item, number))
    return _checked_count(conversations)


def to_record(conversation: Conversation, image_name: str, sample_id: str) -> dict:
    """One LLaVA record; the first human turn starts with ``<image>\\n``."""
    messages = []
    for index, turn in enumerate(conversation.turns):
        question = f"{IMAGE_TOKEN}\n{turn.question}" if index == 0 else turn.question
        messages.append({"from": "human", "value": question})
        messages.append({"from": "gpt", "value": turn.answer})
    return {"id": sample_id, "image": image_name, "conversations": messages}


def build_records(conversations: list[Conversation], image_name: str,
                  repeats: int) -> list[dict]:
    """The lesson's repeat.py: the whole set, ``repeats`` times over."""
    if not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise DatasetError(f"Repeat count must be between 1 and {MAX_REPEATS}.")
    unique = [to_record(c, image_name, str(i)) for i, c in enumerate(conversations)]
    return [dict(record, id=f"{record['id']}_{r}")
            for r in range(repeats) for record in unique]


def conversations_to_json(conversations: list[Conversation], image_name: str) -> str:
    """The lesson's ``unique_data.json`` for these conversations."""
    records = [to_record(c, image_name, str(i)) for i, c in enumerate(conversations)]
    return json.dumps(records, ensure_ascii=False, indent=2)


def prompt_preview(conversation: Conversation) -> str:
    """A sample exactly as the model sees it (InternLM2 chat template)."""
    parts = []
    for index, turn in enumerate(conversation.turns):
        question = f"{IMAGE_TOKEN}\n{turn.question}" if index == 0 else turn.question
        parts.append(f"<|im_start|>user\n{question}<|im_end|>\n"
                     f"<|im_start|>assistant\n{turn.answer}<|im_end|>\n")
    return "".join(parts)


def iterations_for(samples: int, batch_size: int, epochs: int, world_size: int = 1) -> int:
    """Optimizer steps one run takes (mmengine drops no last partial batch)."""
    per_step = batch_size * world_size
    return epochs * -(-samples // per_step)
