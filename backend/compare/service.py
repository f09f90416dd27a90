"""Side by side: the pretrain-only model and a run's finetuned model.

Everything the Compare tab shows comes from here: streamed multi-turn answers,
their scores against the run's own references, the probe table, the
evaluation timeline, a checkpoint as the "after" model, and the export.
All generation goes through ``ChatModels.stream_many`` (one loop).
"""
from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

from backend.data import images
from backend.compare import probes
from backend.compare import timeline
from backend.models.chat import BASE, ChatError, ChatModels, Dialogue
from backend.compare.export import build_archive, chat_command
from backend.runs.checkpoints import iteration_of_label, label_of, name_of
from backend.runs.jobs import JobManager
from backend.models.paths import ModelPaths
from backend.compare.scoring import diff_html, score_answer
from backend.data.special_tokens import first_reserved, reserved_message
from backend.xtuner.config import TrainOptions

MAX_QUESTION_CHARS = 1000
FINAL = "final"        # the "after" model: the run's last checkpoint
# Training finished: "converting" = the pth_to_hf steps (for the export) still run.
ANSWERABLE_STATES = ("converting", "done")


def training_finished(run: dict) -> bool:
    """A run (snapshot or list_runs row) whose checkpoints are final: also one
    that failed in a pth_to_hf step, after its training had finished."""
    return run["state"] in ANSWERABLE_STATES or (
        run["state"] == "failed" and run.get("step", "").startswith("convert"))


class CompareService:
    def __init__(self, chat: Callable[[], ChatModels], jobs: JobManager, scratch: Path,
                 python: str = sys.executable, threads: int = 1,
                 model_paths: Callable[[], ModelPaths] | None = None):
        self._chat = chat  # deferred: the demo profile may still be building
        # The export only needs the paths: no chat models (and no GPU) for it.
        self._model_paths = model_paths or (lambda: self._chat().paths)
        self.jobs = jobs
        self.scratch = scratch
        self.python = python
        self.threads = threads
        self._convert_lock = threading.Lock()
        scratch.mkdir(parents=True, exist_ok=True)

    # ---- which models --------------------------------------------------------
    def _checked_image(self, image_path: str | Path) -> str:
        # Validated and re-encoded, so the model only ever opens our own file.
        image = images.open_checked(image_path)
        handle = tempfile.NamedTemporaryFile(dir=self.scratch, suffix=".jpg", delete=False)
        handle.close()
        images.save_normalized(image, Path(handle.name))
        return handle.name

    def _trained_run_dir(self, run_id: str) -> Path:
        """A run whose training has finished: its checkpoints are final, even
        while the pth_to_hf conversions still run."""
        snapshot = self.jobs.snapshot(run_id)
        if not training_finished(snapshot):
            raise ChatError(f"Run {run_id} is {snapshot['state']}; compare needs a run whose "
                            "training has finished.")
        return self.jobs.run_dir(run_id)

    def _done_run_dir(self, run_id: str) -> Path:
        snapshot = self.jobs.snapshot(run_id)
        if snapshot["state"] != "done":
            raise ChatError(f"Run {run_id} is {snapshot['state']}; the export needs the "
                            "converted model, ready when the run is done.")
        return self.jobs.run_dir(run_id)

    def after_choices(self, run_id: str) -> list[str]:
        """"final" plus every checkpoint still on disk ("iter_50", ...)."""
        run_dir = self.jobs.run_dir(run_id)
        return [FINAL] + [label_of(i) for i in timeline.checkpoints(run_dir / "train")]

    def _after_iteration(self, run_dir: Path, run_id: str, after: str | None) -> int:
        saved = timeline.checkpoints(run_dir / "train")
        if not saved:
            raise ChatError(f"Run {run_id} has no checkpoint on disk.")
        if not after or after == FINAL:
            return saved[-1]
        iteration = iteration_of_label(after)
        if iteration is None:
            raise ChatError(f"Unknown checkpoint {after!r}; pick one of "
                            f"{', '.join(self.after_choices(run_id))}.")
        if iteration not in saved:
            raise ChatError(f"Checkpoint {name_of(iteration)} is not on disk (saved checkpoints: "
                            f"{', '.join(label_of(i) for i in saved)}).")
        return iteration

    def _finetuned_name(self, run_id: str, after: str | None = None) -> str:
        """Attach the chosen checkpoint's adapters + projector to the resident
        models, read straight from iter_N.pth (no pth_to_hf, no model reload)."""
        from backend.compare.adapters import run_adapters
        from backend.runs.spec import JobSpec

        run_dir = self._trained_run_dir(run_id)
        iteration = self._after_iteration(run_dir, run_id, after)
        # Named by checkpoint, never by run alone: an attached name always
        # means the same weights.
        name = f"{run_id}@iter_{iteration}"
        chat = self._chat()
        options, defaults = JobSpec.load(run_dir).options, TrainOptions()
        with self._convert_lock:
            folder = run_adapters(
                run_dir, iteration, llm_path=chat.paths.llm,
                visual_encoder_path=chat.paths.visual_encoder,
                llm_lora_alpha=options.get("llm_lora_alpha", defaults.llm_lora_alpha),
                visual_lora_alpha=options.get("visual_lora_alpha", defaults.visual_lora_alpha))
        chat.attach(name, folder)
        return name

    def _export_dir(self, run_id: str, after: str | None) -> Path:
        """pth_to_hf's output for the chosen "after" (the export is for use
        outside the app, with plain xtuner)."""
        run_dir = self._done_run_dir(run_id)
        iteration = self._after_iteration(run_dir, run_id, after)
        if iteration == timeline.checkpoints(run_dir / "train")[-1]:
            return run_dir / "hf_finetuned"  # what the run's last step converted
        from backend.xtuner.env import subprocess_env

        with self._convert_lock:
            return timeline.convert_checkpoint(run_dir, iteration, self.python,
                                               subprocess_env(self.threads))

    def training_image(self, run_id: str) -> Path:
        """The image the run was trained on (its copy in data/): what a question
        is asked about when none is uploaded (the teacher's Compare)."""
        image = next((self.jobs.run_dir(run_id) / "data").glob("image.*"), None)
        if image is None:
            raise ChatError(f"Run {run_id} has no training image in data/.")
        return image

    # ---- answers ---------------------------------------------------------------
    def stream(self, run_id: str, image_path: str | Path, question: str,
               history: dict | None = None, after: str | None = None) -> Iterator[dict]:
        """Yield {"base": ..., "finetuned": ..., "done": bool, "dropped_turns": int}
        as tokens arrive. Without ``image_path``, about the run's training image.

        ``history`` holds each model's own earlier turns for follow-ups:
        {"base": [[q, a], ...], "finetuned": [[q, a], ...]}; the oldest that do not
        fit the prompt are left out, ``dropped_turns`` says how many.
        """
        chat = self._chat()
        model_tokens = chat.special_tokens()
        question = _checked_question(question, model_tokens)
        history = history or {}
        # Each model's newest turns that fit its context (backend/models/chat_budget.py);
        # a question that does not fit alone is refused before any work.
        fitted = {name: chat.fit_history(_turns(history.get(name), model_tokens), question)
                  for name in ("base", "finetuned")}
        dropped = max(fitted["base"][1], fitted["finetuned"][1])
        image = self._checked_image(image_path or self.training_image(run_id))
        try:
            finetuned = self._finetuned_name(run_id, after)
            dialogues = [Dialogue(BASE, image, fitted["base"][0]),
                         Dialogue(finetuned, image, fitted["finetuned"][0])]
            requests = [(dialogue, question) for dialogue in dialogues]
            for (base, tuned), done in self._chat().stream_many(requests):
                yield {"base": base, "finetuned": tuned, "done": done, "dropped_turns": dropped}
        finally:
            Path(image).unlink(missing_ok=True)

    def compare(self, run_id: str, image_path: str | Path, question: str,
                history: dict | None = None, after: str | None = None) -> dict:
        result = {"base": "", "finetuned": ""}
        for result in self.stream(run_id, image_path, question, history, after):
            pass
        return {"base": result["base"], "finetuned": result["finetuned"]}

    def turn(self, run_id: str, image_path: str | Path, question: str,
             history: dict | None = None, after: str | None = None) -> Iterator[dict]:
        """One turn of a multi-turn compare, for the page and the API alike: the
        answers as they arrive ({"base", "finetuned", "dropped_turns", "done": False}),
        then once more with "done": True, "scores" (``judge``) and "history" (each
        model's own turns with this one appended, for the next turn)."""
        history = history or {}
        partial = {"base": "", "finetuned": "", "dropped_turns": 0}
        for partial in self.stream(run_id, image_path, question, history, after):
            yield {**partial, "done": False}
        base, finetuned = partial["base"], partial["finetuned"]
        yield {**partial, "done": True,
               "scores": self.judge(run_id, question, base, finetuned),
               "history": {"base": list(history.get("base", [])) + [[question, base]],
                           "finetuned": list(history.get("finetuned", [])) + [[question, finetuned]]}}

    def judge(self, run_id: str, question: str, base: str, finetuned: str) -> dict:
        """Both answers against the references trained for ``question``."""
        book = probes.ReferenceBook.from_run(self.jobs.run_dir(run_id))
        refs, everything = book.references(question), book.all_answers()
        out = {"references": refs}
        for name, answer in (("base", base), ("finetuned", finetuned)):
            score = score_answer(answer, refs, everything)
            out[name] = {"rouge_l": score.rouge_l, "verbatim": score.verbatim,
                         "best_reference": score.best_reference,
                         "echo_rouge_l": score.echo_rouge_l,
                         "diff_html": diff_html(answer, score.best_reference)
                         if score.best_reference else ""}
        return out

    # ---- the probe table -----------------------------------------------------
    def probe_table(self, run_id: str, probe_questions=None, other_image: str | Path | None = None,
                    after: str | None = None) -> Iterator[list[dict]]:
        """Yield the table's rows so far, one more each time a case is answered."""
        chat = self._chat()
        questions = probes.parse_probes(probe_questions, chat.special_tokens())
        for question in questions:
            chat.fit_history([], question)  # refuses one that does not fit the model
        run_dir = self._trained_run_dir(run_id)
        book = probes.ReferenceBook.from_run(run_dir)
        training_image = self.training_image(run_id)
        other = self._checked_image(other_image or probes.PROBE_IMAGE)
        try:
            finetuned = self._finetuned_name(run_id, after)
            rows: list[dict] = []
            for case in probes.plan(book, questions, training_image, Path(other)):
                requests = [(Dialogue(BASE, str(case.image)), case.question),
                            (Dialogue(finetuned, str(case.image)), case.question)]
                answers = ["", ""]
                for answers, _done in self._chat().stream_many(requests):
                    pass
                rows.append(probes.row(case, answers[0], answers[1], book.all_answers()))
                yield list(rows)
        finally:
            Path(other).unlink(missing_ok=True)

    def probe_csv(self, rows: list[dict], run_id: str) -> Path:
        target = Path(tempfile.mkdtemp(dir=self.scratch)) / f"{run_id}-scores.csv"
        return probes.write_csv(rows, target)

    # ---- timeline and export ---------------------------------------------------
    def timeline(self, run_id: str) -> list[dict]:
        """Every evaluation of the run (works while it still trains)."""
        return self.timeline_report(run_id)["entries"]

    def timeline_report(self, run_id: str) -> dict:
        """The timeline ("entries") and, per question, the iterations where its
        answer changed ("changes")."""
        entries = timeline.read_timeline(self.jobs.run_dir(run_id) / "train")
        return {"entries": [entry.as_dict() for entry in entries],
                "changes": timeline.changes(entries)}

    def export(self, run_id: str, after: str | None = None) -> Path:
        """A zip of the converted "after" model with the ``xtuner chat`` command."""
        folder = self._export_dir(run_id, after)
        run_dir = self.jobs.run_dir(run_id)
        image = next((run_dir / "data").glob("image.*"), None)
        label = "" if folder.name == "hf_finetuned" else "-" + folder.name[len("hf_"):]
        target = run_dir / "exports" / f"{run_id}{label}-llava.zip"
        return build_archive(run_id, folder, image, self._model_paths(), target)

    def export_command(self) -> str:
        """The ``xtuner chat`` line the archive's README gives (run inside it)."""
        import shlex

        return shlex.join(chat_command(self._model_paths()))


def _checked_question(question: str, model_tokens=frozenset()) -> str:
    question = (question or "").strip()
    if not question:
        raise ChatError("Type a question first.")
    if len(question) > MAX_QUESTION_CHARS:
        raise ChatError(f"Questions are limited to {MAX_QUESTION_CHARS} characters.")
    _no_reserved(question, "The question", model_tokens)
    return question


def _no_reserved(text: str, subject: str, model_tokens) -> None:
    # A special token typed by a user would end the user's turn early, or the
    # whole text, and let the rest pose as the assistant (backend/data/special_tokens.py).
    reserved = first_reserved(text, model_tokens)
    if reserved:
        raise ChatError(reserved_message(reserved, subject))


def _turns(history, model_tokens=frozenset()) -> list[tuple[str, str]]:
    """Earlier (question, answer) pairs from JSON-ish input (all of them:
    fit_history keeps those that fit)."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise ChatError("history must be a list of [question, answer] pairs.")
    turns = []
    for pair in history:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2
                and all(isinstance(x, str) for x in pair)):
            raise ChatError("history must be a list of [question, answer] pairs.")
        _no_reserved(pair[0] + pair[1], "The history", model_tokens)
        turns.append((pair[0], pair[1]))
    return turns
