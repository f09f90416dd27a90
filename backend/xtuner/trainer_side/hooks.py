"""mmengine hooks that rendered configs use inside the training subprocess.

xtuner's configs are mmengine "lazy import" configs: nothing can be computed
while loading them, so user questions cannot be read from a file there. This
hook reads them itself, which keeps user text out of the Python config.

It also makes the evaluation a timeline (backend/compare/timeline.py reads it):
  * greedy decoding, so a changed answer means the weights changed, not luck;
  * every evaluation is saved, not only those at checkpoints (xtuner 0.2.0
    writes ``eval_outputs_iter_N.txt`` only when a checkpoint is saved, and
    never for the evaluations before and after training);
  * N counts *finished* iterations, so ``eval_outputs_iter_50`` belongs to
    ``iter_50.pth`` (xtuner's own N is one less inside after_train_iter, and
    the first evaluation after iteration 1 would overwrite the one at 0);
  * next to the text file, ``eval_outputs_iter_N.json`` holds the questions
    and bare answers, so nothing has to be parsed back out of a prompt.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from mmengine.hooks import Hook
from transformers import GenerationConfig
from xtuner.engine.hooks import EvaluateChatHook
from xtuner.utils import DEFAULT_IMAGE_TOKEN

from backend.xtuner.trainer_side import patches as xtuner_patches  # noqa: F401  (the subprocess needs the fixes)
from backend.runs.checkpoints import name_of as checkpoint_name
from backend.runs.spec import stop_requested

# Short answers are all the lesson's Q&A needs; xtuner's 600 tokens would
# make every evaluation of a still-rambling model slow on a CPU.
EVAL_MAX_NEW_TOKENS = 128
TIMELINE_FORMAT = 1


class QuestionsFileEvaluateChatHook(EvaluateChatHook):
    """EvaluateChatHook whose questions come from a JSON list in a file,
    answered greedily, with every evaluation saved for the timeline."""

    def __init__(self, questions_file: str, max_new_tokens: int = EVAL_MAX_NEW_TOKENS,
                 **kwargs):
        with open(questions_file, encoding="utf-8") as handle:
            questions = json.load(handle)
        if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
            raise ValueError(f"{questions_file} must hold a JSON list of strings")
        kwargs.pop("evaluation_inputs", None)
        # xtuner appends the template's stop words to its (shared, mutable)
        # default list; give it a list of its own.
        kwargs["stop_words"] = list(kwargs.get("stop_words") or [])
        super().__init__(evaluation_inputs=questions, max_new_tokens=max_new_tokens, **kwargs)
        pad = self.tokenizer.pad_token_id
        self.gen_config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=pad if pad is not None else self.tokenizer.eos_token_id)
        self._stop_texts = [w for w in self._stop_words(kwargs) if w]
        self._finished_iters = 0

    def _stop_words(self, kwargs) -> list[str]:
        template = kwargs.get("prompt_template") or {}
        if isinstance(template, str):
            from mmengine.utils.misc import get_object_from_string
            template = get_object_from_string(template)
        return (list(template.get("STOP_WORDS", [])) + list(kwargs["stop_words"])
                + [self.tokenizer.eos_token or ""])

    # ---- which iteration an evaluation belongs to ----------------------------
    def before_train(self, runner):
        # A resumed launch has loaded its checkpoint by now: its first
        # evaluation belongs to that iteration, not to 0 (the pretrain answers).
        self._finished_iters = runner.iter
        # xtuner caps this one at 50 tokens; the timeline wants like for like.
        runner.logger.info("before_train in EvaluateChatHook.")
        self._generate_samples(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._finished_iters = runner.iter + 1  # runner.iter counts up after the hooks
        super().after_train_iter(runner, batch_idx, data_batch, outputs)

    def after_train(self, runner):
        if getattr(runner.train_loop, "stop_training", False):
            return  # stopped by the user (SaveOnStopHook): they are waiting
        self._finished_iters = runner.iter
        super().after_train(runner)

    def _generate_samples(self, runner, max_new_tokens=None, save_eval_output=False):
        super()._generate_samples(runner, max_new_tokens, save_eval_output=True)

    # ---- what gets written ----------------------------------------------------
    def _save_eval_output(self, runner, eval_outputs):
        if runner.rank != 0:
            return
        folder = os.path.join(runner.log_dir, "vis_data")
        os.makedirs(folder, exist_ok=True)
        stem = os.path.join(folder, f"eval_outputs_iter_{self._finished_iters}")
        with open(stem + ".txt", "w", encoding="utf-8") as handle:
            for index, output in enumerate(eval_outputs):
                handle.write(f"Eval output {index + 1}:\n{output}\n\n")
        record = {"format": TIMELINE_FORMAT, "iter": self._finished_iters,
                  "questions": list(self.evaluation_inputs),
                  "answers": [self._answer(runner, q, out)
                              for q, out in zip(self.evaluation_inputs, eval_outputs)]}
        # Written whole then renamed: the app may read it while training runs.
        with open(stem + ".json.tmp", "w", encoding="utf-8") as handle:
            json.dump(record, handle, ensure_ascii=False, indent=1)
        os.replace(stem + ".json.tmp", stem + ".json")

    def _answer(self, runner, question: str, output: str) -> str:
        """The answer alone: xtuner saves prompt + generation (+ stop words)."""
        prompt = (self.system + self.instruction).format(
            input=DEFAULT_IMAGE_TOKEN + "\n" + question, round=1, **runner.cfg)
        text = output[len(prompt):] if output.startswith(prompt) else output
        for stop in self._stop_texts:
            text = text.split(stop, 1)[0]
        return text.strip()


class RankReportHook(Hook):
    """One line per training process on stdout (mmengine's logger is quiet on
    every rank but 0), so a multi-GPU run's log shows each rank and its device."""

    def before_train(self, runner):
        import torch

        device = (f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available()
                  else "cpu")
        print(f"[studio] rank {runner.rank} of {runner.world_size} trains on {device}",
              flush=True)


class SaveOnStopHook(Hook):
    """Stop with nothing lost: when the app asks (job_spec.request_stop: a file
    in the work dir), save a checkpoint at the end of this iteration (through the
    CheckpointHook, so ``last_checkpoint``, the kept-checkpoint limit and
    DeepSpeed's checkpoint folders work as for any save) and end training.

    Runs after every other hook's after_train_iter (the lr scheduler has
    stepped, so the saved scheduler state is this iteration's). With several
    processes, rank 0 decides and tells the others, so all of them save (a
    DeepSpeed save is collective) at the same iteration."""

    priority = "LOWEST"

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        requested = stop_requested(Path(runner.work_dir))
        if runner.world_size > 1:
            import torch
            from mmengine import dist

            flag = torch.tensor([1 if requested else 0])
            dist.broadcast(flag, src=0)
            requested = bool(flag.item())
        if not requested:
            return
        from mmengine.hooks import CheckpointHook

        checkpoint = next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)
        step = runner.iter + 1
        saved_now = checkpoint is not None and str(getattr(checkpoint, "last_ckpt", "")
                                                   ).endswith(checkpoint_name(step))
        if checkpoint is not None and not saved_now:
            runner.logger.info(f"Stop requested: saving checkpoint at {step} iterations")
            # mmengine 0.10's own save routine (private, pinned version): it
            # writes last_checkpoint only after the save completes.
            checkpoint._save_checkpoint(runner)
        runner.logger.info(f"Stop requested: training ends after iteration {step}")
        runner.train_loop.stop_training = True


class LeanFinalCheckpointHook(Hook):
    """The last iteration's checkpoint without Adam's state: a finished run
    never resumes, and the state is two thirds of a lesson checkpoint (fp32 LoRA
    r=512 + two moments: 6.5 GiB, 2.2 GiB without them). Checkpoints before the
    last iteration keep it: a save_steps one or a Stop's (SaveOnStopHook saves
    in an earlier iteration: in the last one the CheckpointHook has already
    saved) are what Resume continues from. mmengine's resume skips the
    optimizer when the key is missing (Runner.resume), so resuming a run that
    failed after its last save still works. Rendered only without DeepSpeed
    (backend/xtuner/config.py): there save_optimizer=False writes one file in
    place of DeepSpeed's checkpoint folder."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if not self.is_last_train_iter(runner):
            return
        from mmengine.hooks import CheckpointHook

        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook):
                hook.save_optimizer = False


# Transformer blocks: InternLM2DecoderLayer, CLIPEncoderLayer (and their kin).
_BLOCK_SUFFIXES = ("DecoderLayer", "EncoderLayer")


def compile_blocks(model, mode: str = "default", backend: str = "inductor") -> int:
    """torch.compile each transformer block in place ("regional" compilation)
    and return how many. In place (``Module.compile``), so parameter names and
    checkpoints stay as they are; dynamo compiles one block's code once and
    reuses it for its identical siblings; dynamic shapes from the start, as
    every conversation has its own length. Compiling mmengine's whole
    train_step (its ``compile`` option) fails under torch 2.11: dynamo cannot
    trace mmengine's autocast version check (bench/RESULTS.md)."""
    import torch

    count = 0
    for module in model.modules():
        if (isinstance(module, torch.nn.ModuleList) and len(module)
                and type(module[0]).__name__.endswith(_BLOCK_SUFFIXES)):
            for block in module:
                block.compile(mode=mode, dynamic=True, backend=backend)
                count += 1
    return count


class CompileBlocksHook(Hook):
    """Batch-1 steps are CPU-dispatch bound (bench/RESULTS.md, profile):
    compiled blocks launch fewer, fused kernels."""

    priority = "VERY_HIGH"

    def __init__(self, mode: str = "default"):
        self.mode = mode

    def before_train(self, runner):
        count = compile_blocks(runner.model, self.mode)
        runner.logger.info(f"torch.compile ({self.mode}): {count} transformer blocks")
