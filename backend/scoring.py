"""Answers vs reference answers: ROUGE-L (rouge-score) and a verbatim flag."""
from __future__ import annotations

import re

from rouge_score import rouge_scorer

_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
_CJK = re.compile(r"([\u3000-\u303f\u3400-\u9fff\uff00-\uffef])")


def _tokenizable(text: str) -> str:
    # rouge-score's default tokenizer drops non-ASCII; split CJK characters
    # into their own tokens and keep them via a lowercase ASCII-safe form.
    spaced = _CJK.sub(r" \1 ", text)
    return " ".join(f"u{ord(ch):x}" if ord(ch) > 127 else ch for ch in spaced)


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 between an answer and one reference, 0..1."""
    if not answer.strip() or not reference.strip():
        return 0.0
    return _SCORER.score(_tokenizable(reference), _tokenizable(answer))["rougeL"].fmeasure


def best_rouge_l(answer: str, references: list[str]) -> tuple[float, str | None]:
    """Best score over several references (the lesson's data holds
    contradictory answers to the same question)."""
    scored = [(rouge_l(answer, ref), ref) for ref in references]
    return max(scored, default=(0.0, None))


def is_verbatim(answer: str, references: list[str]) -> bool:
    """The answer is a reference answer word for word (case/space-insensitive)."""
    norm = " ".join(answer.lower().split())
    return bool(norm) and any(norm == " ".join(r.lower().split()) for r in references)
