"""Model output as text a page can show: never a U+FFFD replacement character.

Answers are generated one token at a time and decoded whole after each one. A
byte-level tokenizer (the demo's, or a sentencepiece byte fallback) can end a
step in the middle of a multi-byte UTF-8 character: the decoder then shows
U+FFFD for the bytes that have arrived so far. And an untrained model can emit
bytes that never form a character at all.
"""
from __future__ import annotations

REPLACEMENT = "\ufffd"


class Answer(str):
    """Answer text that remembers how many undecodable byte runs were left out
    (``dropped``), so a page can say so under the answer. A plain str anywhere else."""

    dropped: int = 0


def readable(decoded: str, finished: bool) -> Answer:
    """``decoded``: the whole answer so far, as the tokenizer decoded it.

    While generating, replacement characters at the end are held back: the next
    token may complete that character. Anywhere else, or once the answer is
    finished, they are bytes that form no character and are dropped (counted).
    """
    body = decoded if finished else decoded.rstrip(REPLACEMENT)
    answer = Answer(body.replace(REPLACEMENT, "").strip())
    answer.dropped = body.count(REPLACEMENT)
    return answer


def dropped_of(text: str) -> int:
    """How many undecodable byte runs ``readable`` left out of this answer."""
    return getattr(text, "dropped", 0)


def without_replacements(text: str) -> str:
    """Log text for a page: the replacement characters the trainer's own decoding
    (or reading the log leniently) left carry nothing a reader can use."""
    return text.replace(REPLACEMENT, "")
