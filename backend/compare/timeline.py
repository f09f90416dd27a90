"""How each evaluation answer changed during training, and any checkpoint as a model.

The training subprocess's QuestionsFileEvaluateChatHook (backend/xtuner/trainer_side/hooks.py)
writes ``train/<timestamp>/vis_data/eval_outputs_iter_N.json`` for every
evaluation (N = finished iterations). Runs made by xtuner's own hook only have
``eval_outputs_iter_N.txt`` at checkpoints; those are parsed as a fallback.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from backend.models.readable_text import readable
from backend.runs.checkpoints import name_of as checkpoint_name, saved as saved_checkpoints
from backend.errors import StudioError

_EVAL_FILE = re.compile(r"^eval_outputs_iter_(\d+)\.(json|txt)$")
_TXT_ENTRY = re.compile(r"^Eval output \d+:\n", re.MULTILINE)
_ASSISTANT = "<|im_start|>assistant\n"
_USER = "<|im_start|>user\n"
_STOPS = ("<|im_end|>", "</s>")


class TimelineError(StudioError, ValueError):
    """A checkpoint or timeline request that cannot be served."""


@dataclass
class TimelineEntry:
    """One evaluation: the answers after ``iter`` finished iterations."""

    iter: int
    questions: list[str]
    answers: list[str]
    checkpoint: bool = False     # a train/iter_N.pth for this iteration is on disk
    source: str = field(default="json", repr=False)

    def as_dict(self) -> dict:
        return {"iter": self.iter, "checkpoint": self.checkpoint,
                "answers": [{"question": q, "answer": a}
                            for q, a in zip(self.questions, self.answers)]}


def _from_json(path: Path) -> TimelineEntry | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return TimelineEntry(int(data["iter"]), [str(q) for q in data["questions"]],
                             [str(a) for a in data["answers"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # half-written by a run still training: the next read gets it


def parse_txt(text: str) -> tuple[list[str], list[str]]:
    """Questions and answers out of xtuner's own ``eval_outputs_iter_N.txt``
    (each entry is the whole prompt followed by the generation)."""
    questions, answers = [], []
    for chunk in _TXT_ENTRY.split(text)[1:]:
        prompt, _, answer = chunk.rpartition(_ASSISTANT)
        question = prompt.rpartition(_USER)[2]
        for stop in _STOPS:
            question, answer = question.split(stop, 1)[0], answer.split(stop, 1)[0]
        questions.append(question.replace("<image>", "", 1).strip())
        answers.append(answer.strip())
    return questions, answers


def _from_txt(path: Path, iteration: int) -> TimelineEntry | None:
    try:
        questions, answers = parse_txt(path.read_text(encoding="utf-8"))
    except OSError:
        return None
    return TimelineEntry(iteration, questions, answers, source="txt") if questions else None


def checkpoints(train_dir: Path) -> list[int]:
    """Iterations whose ``iter_N.pth`` is still on disk, ascending
    (mmengine keeps only the last ``save_total_limit``)."""
    return [iteration for iteration, _ in saved_checkpoints(train_dir)]


def read_timeline(train_dir: Path) -> list[TimelineEntry]:
    """One entry per evaluated iteration, ascending. A resumed run has several
    timestamp folders (one per launch); for the same iteration the newest
    folder wins, except at iteration 0: that is the pretrain model, evaluated
    by the first launch, and a resumed launch's "iteration 0" (written before
    the hook counted from the checkpoint) must not replace it. Within a
    folder, our JSON wins over xtuner's text file."""
    found: dict[int, list[tuple[str, bool, Path]]] = {}
    for path in train_dir.glob("*/vis_data/eval_outputs_iter_*"):
        match = _EVAL_FILE.match(path.name)
        if match:
            found.setdefault(int(match.group(1)), []).append(
                (path.parent.parent.name, match.group(2) == "json", path))
    entries = []
    for iteration in sorted(found):
        launches = sorted({launch for launch, _, _ in found[iteration]},
                          reverse=iteration != 0)
        order = {launch: index for index, launch in enumerate(launches)}
        # Preferred first; an unreadable file (half-written) gives way to the next.
        for _, is_json, path in sorted(found[iteration],
                                       key=lambda c: (order[c[0]], not c[1])):
            entry = _from_json(path) if is_json else _from_txt(path, iteration)
            if entry is not None:
                # The trainer decoded these whole: drop bytes that formed no character.
                entry.answers = [str(readable(a, finished=True)) for a in entry.answers]
                entries.append(entry)
                break
    saved = set(checkpoints(train_dir))
    for entry in entries:
        entry.checkpoint = entry.iter in saved
    return entries


def changes(entries: list[TimelineEntry]) -> list[dict]:
    """Per question, only the iterations where its answer changed: what a class
    wants to see ("a caption until iter 150, then the trained answer")."""
    out: dict[str, list[dict]] = {}
    for entry in entries:
        for question, answer in zip(entry.questions, entry.answers):
            steps = out.setdefault(question, [])
            if not steps or steps[-1]["answer"] != answer:
                steps.append({"iter": entry.iter, "answer": answer})
    return [{"question": q, "changes": steps} for q, steps in out.items()]


# ---- a checkpoint as the "after" model ------------------------------------------
CONVERT_TIMEOUT_S = 900


def converted_dir(run_dir: Path, iteration: int) -> Path:
    return run_dir / f"hf_iter_{iteration}"


def convert_checkpoint(run_dir: Path, iteration: int, python: str, env: dict,
                       timeout_s: float = CONVERT_TIMEOUT_S) -> Path:
    """``pth_to_hf`` for ``train/iter_N.pth`` into ``hf_iter_N/`` (once).

    Same way as the JobManager runs it: an argument list, its own process
    group, output to a log file in the run folder. It writes into a temporary
    folder renamed at the end, so a crash never leaves a half-converted model
    that a later call would take for finished.
    """
    import os
    import shutil

    from backend.runs import process as processes
    from backend.xtuner.config import convert_command

    target = converted_dir(run_dir, iteration)
    if (target / "projector").is_dir():
        return target
    checkpoint = run_dir / "train" / checkpoint_name(iteration)
    if not checkpoint.exists():  # a DeepSpeed run saves a folder
        saved = ", ".join(f"iter_{i}" for i in checkpoints(run_dir / "train")) or "none"
        raise TimelineError(f"Checkpoint iter_{iteration}.pth is not on disk "
                            f"(saved checkpoints: {saved}).")
    partial = run_dir / f".hf_iter_{iteration}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    argv = convert_command(run_dir / "finetune_config.py", checkpoint, partial, python)
    log_path = run_dir / f"convert_iter_{iteration}.log"
    # A timeout, or an interruption while waiting, takes the group down.
    code = processes.run(argv, cwd=run_dir, env={**os.environ, **env}, log_path=log_path,
                         timeout_s=timeout_s, header="==> " + " ".join(argv) + "\n")
    if code != 0 or not (partial / "projector").is_dir():
        shutil.rmtree(partial, ignore_errors=True)
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-1500:]
        why = "timed out" if code is None else f"exited with code {code}"
        raise TimelineError(f"Converting iter_{iteration}.pth {why}. "
                            f"Log ({log_path.name}):\n{tail}")
    partial.rename(target)
    return target
