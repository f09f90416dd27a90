"""Answers vs reference answers: ROUGE-L (rouge-score), a verbatim flag, a word diff."""
from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass

from rouge_score import rouge_scorer

_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
_CJK = re.compile(r"([\u3000-\u303f\u3400-\u9fff\uff00-\uffef])")  # spaceless scripts
_WORDS = re.compile(r"\S+")


def _tokenizable(text: str) -> str:
    # rouge-score's default tokenizer keeps only [a-z0-9] words. Each non-ASCII
    # character becomes a word of its own in an ASCII spelling ("u4e00"), so
    # Chinese is scored character by character and English word by word.
    return re.sub(r"[^\x00-\x7f]", lambda m: f" u{ord(m.group()):x} ", text)


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


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def is_verbatim(answer: str, references: list[str]) -> bool:
    """The answer is a reference answer word for word (case/space-insensitive)."""
    norm = _normal(answer)
    return bool(norm) and any(norm == _normal(r) for r in references)


def word_diff(answer: str, reference: str) -> list[tuple[str, str]]:
    """Word-level diff as (op, text) pieces; op is "same", "added" (only in the
    answer) or "missing" (only in the reference)."""
    # CJK has no spaces: diff it character by character, like ROUGE above.
    said, wanted = (_WORDS.findall(_CJK.sub(r" \1 ", t)) for t in (answer, reference))
    matcher = difflib.SequenceMatcher(a=wanted, b=said, autojunk=False)
    pieces: list[tuple[str, str]] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("same", " ".join(said[b0:b1])))
            continue
        if a1 > a0:
            pieces.append(("missing", " ".join(wanted[a0:a1])))
        if b1 > b0:
            pieces.append(("added", " ".join(said[b0:b1])))
    return pieces


_DIFF_STYLE = {
    "same": "{}",
    "added": '<ins style="background:#fde2e1;text-decoration:none">{}</ins>',
    "missing": '<del style="background:#e1f0fd;color:#555">{}</del>',
}


def diff_html(answer: str, reference: str) -> str:
    """The diff as escaped HTML: answer-only words highlighted, missing
    reference words struck through."""
    return " ".join(_DIFF_STYLE[op].format(html.escape(text))
                    for op, text in word_diff(answer, reference))


@dataclass(frozen=True)
class AnswerScore:
    """One answer judged against the references of its question."""

    rouge_l: float | None        # None: the question was not trained (no reference)
    best_reference: str | None
    verbatim: bool
    echo_rouge_l: float          # best ROUGE-L against *any* trained answer

    @property
    def has_reference(self) -> bool:
        return self.rouge_l is not None


def score_answer(answer: str, references: list[str], all_answers: list[str]) -> AnswerScore:
    """Score one answer; ``references`` are the answers trained for this very
    question (empty for an unseen probe), ``all_answers`` every trained answer,
    so a probe answered with some other question's answer still shows up."""
    echo = best_rouge_l(answer, all_answers)[0]
    if not references:
        return AnswerScore(None, None, False, echo)
    score, best = best_rouge_l(answer, references)
    return AnswerScore(score, best, is_verbatim(answer, references), echo)
