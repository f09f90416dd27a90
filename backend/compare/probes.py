"""Memorisation vs generalisation: trained and unseen questions, on the training
image and on another image, scored against the run's own reference answers."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from backend.data import dataset
from backend.compare.scoring import AnswerScore, diff_html, score_answer
from backend.data.special_tokens import first_reserved, reserved_message
from backend.errors import StudioError
from backend.data import user_json

ASSETS = Path(__file__).resolve().parents[2] / "assets"
# skimage's "astronaut" photo, 160 px: a picture the demo's pretrain stage has
# captioned, so the Pretrain model describes it while a memorising Finetune
# model still answers about the training image.
PROBE_IMAGE = ASSETS / "probe_astronaut.jpg"
# Not in any lesson dataset; a run that trained one of them counts it as trained.
DEFAULT_PROBES = (
    "What is the person in this picture wearing?",
    "Is this picture taken indoors or outdoors?",
    "Describe the picture in one sentence.",
)
MAX_PROBES = 10
MAX_TRAINED_IN_TABLE = 10
TRAINING_IMAGE = "training image"
OTHER_IMAGE = "other image"
CSV_COLUMNS = ["image", "question", "trained", "reference", "base_answer",
               "finetuned_answer", "base_rouge_l", "finetuned_rouge_l", "base_verbatim",
               "finetuned_verbatim", "finetuned_echo_rouge_l"]


class ProbeError(StudioError, ValueError):
    """Probe questions that cannot be asked (too many, too long, empty)."""


def _key(question: str) -> str:
    return " ".join(question.lower().split())


class ReferenceBook:
    """The answers a run was trained with, by question (several per question
    when the data contradicts itself, as the lesson's does)."""

    def __init__(self, conversations: list[dataset.Conversation]):
        self._by_question: dict[str, list[str]] = {}
        self._questions: list[str] = []
        for conversation in conversations:
            for turn in conversation.turns:
                answers = self._by_question.setdefault(_key(turn.question), [])
                if not answers:
                    self._questions.append(turn.question)
                if turn.answer not in answers:
                    answers.append(turn.answer)

    @classmethod
    def from_run(cls, run_dir: Path) -> "ReferenceBook":
        text = (run_dir / "data" / "unique_data.json").read_text(encoding="utf-8")
        return cls(dataset.parse_qa_json(text))

    def references(self, question: str) -> list[str]:
        return list(self._by_question.get(_key(question), []))

    def questions(self) -> list[str]:
        return list(self._questions)

    def all_answers(self) -> list[str]:
        return [a for answers in self._by_question.values() for a in answers]


def parse_probes(text: str | list[str] | None, model_tokens=frozenset()) -> list[str]:
    """Probe questions: one per line (or a JSON list); blank means the defaults.
    Reserved tokens are refused as in any question (backend/data/special_tokens.py)."""
    if isinstance(text, str) and text.strip().startswith("["):
        try:
            text = user_json.loads(text)
        except json.JSONDecodeError as error:
            raise ProbeError(f"The probe questions do not parse as JSON: {error}") from None
    if isinstance(text, list):
        lines = [q for q in text if isinstance(q, str)]
    else:
        lines = (text or "").splitlines()
    questions = list(dict.fromkeys(q.strip() for q in lines if q.strip()))
    if not questions:
        return list(DEFAULT_PROBES)
    if len(questions) > MAX_PROBES:
        raise ProbeError(f"At most {MAX_PROBES} probe questions; got {len(questions)}.")
    for question in questions:
        if len(question) > dataset.MAX_TEXT_CHARS:
            raise ProbeError(f"A probe question has {len(question)} characters; "
                             f"at most {dataset.MAX_TEXT_CHARS} are allowed.")
        reserved = first_reserved(question, model_tokens)
        if reserved:
            raise ProbeError(reserved_message(reserved, "A probe question"))
    return questions


@dataclass(frozen=True)
class ProbeCase:
    image_label: str   # TRAINING_IMAGE or OTHER_IMAGE
    image: Path
    question: str
    references: tuple[str, ...]


def plan(book: ReferenceBook, probes: list[str], training_image: Path,
         other_image: Path) -> list[ProbeCase]:
    """Trained questions first, then unseen ones; each on both images."""
    trained = book.questions()[:MAX_TRAINED_IN_TABLE]
    unseen = [q for q in probes if not book.references(q)]
    cases = []
    for label, image in ((TRAINING_IMAGE, training_image), (OTHER_IMAGE, other_image)):
        for question in trained + unseen:
            cases.append(ProbeCase(label, image, question, tuple(book.references(question))))
    return cases


def _rounded(score: AnswerScore) -> float | None:
    return None if score.rouge_l is None else round(score.rouge_l, 3)


def row(case: ProbeCase, base: str, finetuned: str, all_answers: list[str]) -> dict:
    """One table row (JSON-able; CSV_COLUMNS plus the HTML diff for the page)."""
    refs = list(case.references)
    base_score = score_answer(base, refs, all_answers)
    tuned_score = score_answer(finetuned, refs, all_answers)
    reference = tuned_score.best_reference or base_score.best_reference
    return {
        "image": case.image_label, "question": case.question, "trained": bool(refs),
        "reference": reference, "base_answer": base, "finetuned_answer": finetuned,
        "base_rouge_l": _rounded(base_score), "finetuned_rouge_l": _rounded(tuned_score),
        "base_verbatim": base_score.verbatim, "finetuned_verbatim": tuned_score.verbatim,
        "finetuned_echo_rouge_l": round(tuned_score.echo_rouge_l, 3),
        "finetuned_diff_html": diff_html(finetuned, reference) if reference else "",
    }


def to_frame(rows: list[dict]):
    """The scores table as a pandas DataFrame (CSV_COLUMNS, in order)."""
    import pandas as pd

    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def write_csv(rows: list[dict], path: Path) -> Path:
    """UTF-8 with a BOM, so spreadsheet programs show Chinese text correctly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_frame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    return path
