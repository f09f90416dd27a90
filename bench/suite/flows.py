"""The two flows the benchmark times: the lesson's CLI, and the app's path."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.suite import procs
from bench.suite import build_models as bm
from bench.suite.fixtures import MAX_NEW_TOKENS, QA, base_env, make_dataset

PROMPT = ">>> "


@dataclass
class Context:
    paths: object
    work: Path
    out: Path
    tiny: bool
    started: float
    budget_s: float
    seq_len: int
    convert: bool = True  # run the two pth_to_hf steps after the answers
    # The bench's own recipe variants by name (backend's LESSON and FAST stay as they are).
    variants: dict = dataclasses.field(default_factory=dict)
    # CPU cores the CLI flow's subprocesses run on ("8-15"; "" = wherever): two flows
    # side by side in one call keep off each other's cores (run_bench.py side_by_side).
    cpus: str = ""

    def pinned(self, argv: list[str]) -> list[str]:
        taskset = shutil.which("taskset") if self.cpus else None
        return [taskset, "-c", self.cpus, *argv] if taskset else argv

    def recipe(self, name: str):
        from backend.xtuner import recipes

        return self.variants.get(name) or recipes.get_recipe(name)

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def threads(self) -> int:
        """OMP threads of the app's trainer: the app's own default for a run
        alone (1 on the CPU; on a GPU, backend/runs/thread_share.py over this
        process's cores), so the bench times the app as it ships;
        BENCH_APP_THREADS tries another count."""
        import os

        from backend.runs.thread_share import ThreadShare, machine_cores
        if os.environ.get("BENCH_APP_THREADS"):
            return int(os.environ["BENCH_APP_THREADS"])
        return 1 if self.tiny else ThreadShare(machine_cores()).for_next_run(())


# Recipe switches a variant spec can flip either way (the fast recipe may have them on).
_SWITCHES = {"bf16w": ("frozen_in_amp_dtype", True), "fp32w": ("frozen_in_amp_dtype", False),
             "noscale": ("loss_scaler", False), "scale": ("loss_scaler", True),
             "fuse": ("fused_lora", True), "nofuse": ("fused_lora", False)}


def fast_variant(ctx: Context, spec: str) -> str:
    """Register a variant of the fast recipe from a spec such as
    "b4:lr2e-4:wu0.2:nockpt:const" (batch 4, lr 2e-4, warm-up over 20% of the
    steps, no activation checkpointing, constant lr after warmup); "beta0.95" sets
    Adam's beta2, "lp16" LoRA+'s lr multiplier for the B matrices, "compile" /
    "cudagraphs" torch.compile's default / reduce-overhead mode, "novis" no LoRA on
    CLIP (frozen), "drop0" LoRA dropout 0, "bf16w" / "fp32w" the frozen weights in
    the autocast dtype or as peft leaves them, "noscale" / "scale" without / with
    mmengine's GradScaler, "fuse" / "nofuse" one autograd node per LoRA layer or
    peft's. Returns its name."""
    from backend.xtuner import recipes

    updates, changes = {}, {}
    for part in spec.split(":"):
        if part == "nockpt":
            changes["activation_checkpointing"] = False
        elif part == "const":
            changes["constant_lr"] = True
        elif part == "novis":
            changes["visual_lora"] = False
        elif part in _SWITCHES:
            field, value = _SWITCHES[part]
            changes[field] = value
        elif part.startswith("drop"):
            changes["lora_dropout"] = float(part[4:])
        elif part in ("compile", "cudagraphs"):
            changes["compile_mode"] = "default" if part == "compile" else "reduce-overhead"
        elif part.startswith("beta"):
            changes["adam_beta2"] = float(part[4:])
        elif part.startswith("lp"):
            changes["lora_b_lr_mult"] = float(part[2:])
        elif part.startswith("b"):
            updates["batch_size"] = int(part[1:])
        elif part.startswith("lr"):
            updates["lr"] = float(part[2:])
        elif part.startswith("wu"):
            updates["warmup_ratio"] = float(part[2:])
        else:
            raise ValueError(f"fast variant {spec!r}: parts are bN, lrX, wuX, betaX, lpX, "
                             "dropX, nockpt, const, novis, compile, cudagraphs, "
                             + ", ".join(_SWITCHES))
    name = "fast_" + "_".join(spec.split(":"))
    ctx.variants[name] = dataclasses.replace(
        recipes.FAST, name=name, options=recipes.FAST.options.with_updates(updates), **changes)
    return name


def lesson_without_evaluation(ctx: Context) -> str:
    """The lesson's recipe minus xtuner's evaluation passes (they change no
    weight): the full-length outcome run spends its device time on steps."""
    from backend.xtuner import recipes

    name = "lesson_noeval"
    ctx.variants[name] = dataclasses.replace(recipes.LESSON, name=name,
                                             evaluation_passes=False)
    return name


def use_tiny_sizes() -> None:
    """CPU plumbing check: same code, toy sizes."""
    bm.INTERNLM2_1_8B.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, vocab_size=2048)
    bm.CLIP_L_336.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, image_size=336, patch_size=14,
                         projection_dim=32)


def _log(ctx: Context, name: str) -> Path:
    return ctx.out / f"{name}.log"


# ---- (a) the lesson's CLI flow --------------------------------------------------
def cli_flow(ctx: Context, repeats: int, trained: threading.Event | None = None,
             before_chat: threading.Event | None = None) -> dict:
    """The lesson's flow; ``trained`` is set once `xtuner train` has ended
    (run_bench.py side_by_side starts the app's run then), and the chats wait
    for ``before_chat`` (that run's end: no two flows on the GPU at once). Each
    step's time is its own; the wait is in none of them."""
    try:
        return _cli_flow(ctx, repeats, trained, before_chat)
    finally:
        if trained is not None:
            trained.set()


def _cli_flow(ctx: Context, repeats: int, trained: threading.Event | None,
              before_chat: threading.Event | None) -> dict:
    from backend.xtuner.config import FINETUNE_CONFIG, PRETRAIN_CONFIG, _apply, _literal

    run = ctx.work / "cli"
    shutil.rmtree(run, ignore_errors=True)
    data, image, _ = make_dataset(run / "data", repeats)
    paths = ctx.paths
    common = {"llm_name_or_path": _literal(paths.llm),
              "visual_encoder_name_or_path": _literal(paths.visual_encoder),
              # Local file: the built-in URL hangs offline.
              "evaluation_images": _literal(image)}
    # The lesson's edits to its copy of the built-in config, nothing else.
    finetune = _apply(FINETUNE_CONFIG, {
        **common, "pretrained_pth": _literal(paths.pretrained_pth),
        "data_root": _literal(str(data.parent) + "/"), "data_path": _literal(data),
        "image_folder": _literal(image.parent),
        "batch_size": "1",  # the lesson's edit (the built-in is 16 per device)
        "evaluation_inputs": repr([QA[0][0], QA[1][0]])})
    pretrain = _apply(PRETRAIN_CONFIG, common)
    if ctx.tiny:
        finetune += _CPU_LINES
        pretrain += _CPU_LINES
    (run / "finetune.py").write_text(finetune)
    (run / "pretrain.py").write_text(pretrain)
    env = base_env(ctx.threads())
    env["STUDIO_MAP_NUM_PROC"] = "32"  # xtuner's own map_num_proc, uncapped
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(key, None)             # a terminal sets none
    xtuner = shutil.which("xtuner") or sys.exit("xtuner CLI not on PATH")
    log = _log(ctx, "cli")
    t0 = time.monotonic()
    train = procs.run(ctx.pinned([xtuner, "train", str(run / "finetune.py"), "--work-dir",
                                  str(run / "train")]), env, log,
                      timeout_s=max(60, ctx.left() - 200))
    if trained is not None:
        trained.set()
    stats = procs.train_stats(train)
    stats["train_s"] = train.seconds
    stats["eval_sample_lines"] = train.text.count("Sample output")
    ckpt = _last_checkpoint(run / "train")
    result = {"train": stats, "train_rc": train.rc, "checkpoint": _size(ckpt)}
    if ckpt is None:
        return result
    fp32 = ["--fp32"]
    c1 = procs.run(ctx.pinned([xtuner, "convert", "pth_to_hf", str(run / "pretrain.py"),
                               str(paths.pretrained_pth), str(run / "hf_pretrain")] + fp32),
                   env, log)
    c2 = procs.run(ctx.pinned([xtuner, "convert", "pth_to_hf", str(run / "finetune.py"),
                               str(ckpt), str(run / "hf_finetuned")]
                              + (fp32 if ctx.tiny else [])), env, log)
    result["convert_pretrain_s"], result["convert_finetuned_s"] = c1.seconds, c2.seconds
    result["convert_rc"] = [c1.rc, c2.rc]
    waited = time.monotonic()
    if before_chat is not None:
        before_chat.wait()
    waited = time.monotonic() - waited
    question, reference = QA[0]
    answers = {}
    for name, hf in (("base", run / "hf_pretrain"), ("finetuned", run / "hf_finetuned")):
        argv = [xtuner, "chat", str(paths.llm), "--visual-encoder", str(paths.visual_encoder),
                "--llava", str(hf), "--prompt-template", "internlm2_chat", "--image",
                str(image), "--max-new-tokens", str(MAX_NEW_TOKENS)]
        if ctx.tiny:
            argv += ["--torch-dtype", "fp32"]
        chat = procs.run(ctx.pinned(argv), env, log, stdin_text=f"{question}\n\nexit\n\n",
                         timeout_s=300)
        first = chat.time_of(PROMPT, 1)
        answered = chat.time_of(PROMPT, 2)
        answers[name] = {
            "rc": chat.rc, "seconds": chat.seconds,
            "to_first_prompt_s": None if first is None else first - chat.start,
            "answer_s": None if answered is None or first is None else answered - first,
            "answer": _chat_answer(chat.text)}
    result["chat"] = answers
    result["waited_s"] = waited
    result["end_to_end_s"] = time.monotonic() - t0 - waited
    from backend.compare.scoring import rouge_l
    result["finetuned_rouge_l"] = rouge_l(answers["finetuned"]["answer"], reference)
    return result


_CPU_LINES = """
model['llm'].pop('quantization_config', None)
model['llm']['torch_dtype'] = torch.float32
from mmengine.optim import OptimWrapper
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=optim_type, lr=lr))
env_cfg['dist_cfg'] = dict(backend='gloo')
"""


def _chat_answer(text: str) -> str:
    parts = text.split(PROMPT)
    if len(parts) < 2:
        return ""
    answer = parts[1].split("double enter to end input")[0]
    return re.sub(r"<\|im_end\|>|</s>", "", answer).strip()


def _last_checkpoint(train_dir: Path) -> Path | None:
    from backend.runs.checkpoints import latest_checkpoint
    return latest_checkpoint(train_dir) if train_dir.is_dir() else None


def _request_stop(train_dir: Path) -> None:
    from backend.runs.spec import request_stop
    request_stop(train_dir)
    print(f"[bench] stop requested in {train_dir}", flush=True)


def _size(path: Path | None) -> dict | None:
    if path is None:
        return None
    return {"name": path.name, "gib": round(path.stat().st_size / 2**30, 3)}


# ---- (b) the app's code path ----------------------------------------------------
def _ready_warm_trainer(ctx: Context, python: str, env: dict):
    """A WarmTrainers holding one process for ``env``, its imports done."""
    from backend.runs.warm_trainers import WarmTrainers
    from backend.xtuner.trainer_side.warm_trainer import READY

    log = ctx.work / "warm-trainers.log"
    log.unlink(missing_ok=True)
    warm = WarmTrainers(log)
    warm.prepare(python, env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.exists() and READY in log.read_text()):
        time.sleep(0.2)
    return warm


def app_flow(ctx: Context, recipe_name: str, repeats: int, *, save_steps: int = 500,
             resume: bool = False, profile: str = "", answer: bool = True,
             stop_before_end_s: float = 0.0, config_lines: tuple[str, ...] = (),
             warm_chat: bool = False, warm_trainer: bool = False) -> dict:
    """What the app runs for one run: the rendered config, our train argv
    (backend/training/gpu.py), both pth_to_hf steps (as TrainingService lists them),
    then the resident ChatModels answering base + finetuned in one loop.
    ``resume``: continue the run an earlier call left in ctx.work from its last
    saved checkpoint (a run longer than one device call). ``profile``
    ("START:STEPS"): torch.profiler over those steps (bench/suite/step_profile.py).
    ``answer`` False: train only, up to the end of the budget (no chat after).
    ``stop_before_end_s``: that long before the budget ends, ask the trainer
    to stop as the app's Stop button does (it saves a checkpoint at that
    iteration, SaveOnStopHook), so a run split over calls loses no steps.
    ``config_lines``: appended to the rendered config (bench/probes/op_count.py's
    variants; bench constants only, never user text). ``warm_chat``: the chat
    models are loaded before the run starts, as the app holds them resident once
    a student has asked the pretrain model (the lesson's "before"); the answers'
    time then has no load in it (with ``answer`` False too: resident during the
    steps, unloaded after them). ``warm_trainer``: the train step goes to a
    process whose imports were done before the run (the app's --warm-trainers,
    backend/runs/warm_trainers.py), ready before the clock starts as a
    server's is before a student presses Start."""
    from backend.xtuner import recipes
    from backend.models.chat import BASE, ChatModels, Dialogue
    from backend.training.gpu import Launch
    from backend.training.memory import chat_bytes, dims_from_dirs, training_bytes
    from backend.compare.scoring import rouge_l
    from backend.xtuner.config import TrainConfig, convert_command, write_configs

    if recipe_name == "fast_nockpt" and recipe_name not in ctx.variants:
        ctx.variants[recipe_name] = dataclasses.replace(
            recipes.FAST, name=recipe_name, activation_checkpointing=False)
    recipe = None if ctx.tiny else ctx.recipe(recipe_name)
    run = ctx.work / f"app-{recipe_name}"
    resume_from = _last_checkpoint(run / "train") if resume else None
    if resume and resume_from is None:
        return {"recipe": recipe_name, "error": f"nothing to resume in {run / 'train'}"}
    if not resume:
        shutil.rmtree(run, ignore_errors=True)
    else:  # as JobManager does before every step
        from backend.runs.spec import clear_stop_request
        clear_stop_request(run / "train")
    data, image, questions = make_dataset(run / "data", repeats)
    options = (recipe.options if recipe else recipes.LESSON.options).with_updates(
        {"evaluation_freq": 500, "save_steps": save_steps})
    config = TrainConfig(
        llm_path=ctx.paths.llm, visual_encoder_path=ctx.paths.visual_encoder,
        pretrained_pth=ctx.paths.pretrained_pth, data_file=data, image_file=image,
        questions_file=questions, work_dir=run, options=options,
        device="cpu" if ctx.tiny else "cuda",
        quantize_4bit=bool(recipe and recipe.quantize_4bit), recipe=recipe)
    write_configs(config)
    extra = list(config_lines)
    if profile:
        start, steps = (int(x) for x in profile.split(":"))
        extra += ["from bench.suite.step_profile import StepProfileHook",
                  f"custom_hooks.append(dict(type=StepProfileHook, start={start}, "
                  f"steps={steps}, out_dir={str(ctx.out / ('profile_' + recipe_name))!r}))"]
    if extra:
        with config.config_file.open("a") as file:
            file.write("\n".join(["", *extra, ""]))
    dims = dims_from_dirs(ctx.paths.llm, ctx.paths.visual_encoder)
    visual_lora_r = recipe.visual_lora_rank(options) if recipe else options.visual_lora_r
    estimate = training_bytes(
        dims, quantize_4bit=config.quantize_4bit, batch_size=options.batch_size,
        seq_len=ctx.seq_len, llm_lora_r=options.llm_lora_r, visual_lora_r=visual_lora_r,
        activation_checkpointing=recipe.activation_checkpointing if recipe else True,
        frozen_in_amp_dtype=bool(recipe and recipe.frozen_in_amp_dtype))
    # explore.sh spreads variants over GPUs: BENCH_GPU is the physical index
    # (this process then sees only that GPU, through CUDA_VISIBLE_DEVICES).
    launch = Launch((int(os.environ.get("BENCH_GPU", "0")),))
    env = {**base_env(ctx.threads()), **({} if ctx.tiny else launch.env())}
    log = _log(ctx, f"app_{recipe_name}")
    chat = None
    if warm_chat:
        chat = ChatModels(ctx.paths, "cpu" if ctx.tiny else "cuda")
        chat.load()
    argv = launch.train_argv(config.config_file, run / "train", resume=resume_from)
    warm = _ready_warm_trainer(ctx, argv[0], env) if warm_trainer else None
    t0 = time.monotonic()
    stopper = None
    if stop_before_end_s:
        stopper = threading.Timer(max(1.0, ctx.left() - stop_before_end_s), _request_stop,
                                  args=(run / "train",))
        stopper.daemon = True
        stopper.start()
    timeout_s = max(60, ctx.left() - (90 if answer else 20))
    if warm is not None:
        train = procs.run_warm(warm, argv, env, log, timeout_s=timeout_s)
        warm.close()
    else:
        train = procs.run(argv, env, log, timeout_s=timeout_s)
    if stopper is not None:
        stopper.cancel()
    stats = procs.train_stats(train)
    stats["train_s"] = train.seconds
    stats["eval_sample_lines"] = train.text.count("Sample output")
    ckpt = _last_checkpoint(run / "train")
    result = {"recipe": recipe_name, "samples": 6 * repeats, "batch_size": options.batch_size,
              "resumed_from": resume_from and resume_from.name,
              "train": stats, "train_rc": train.rc, "checkpoint": _size(ckpt),
              "estimate_train_gib": round(estimate / 2**30, 2),
              # What the memory table recomputes its estimate from (bench/report).
              "recipe_flags": {"visual_lora_r": visual_lora_r,
                               "activation_checkpointing": bool(
                                   recipe is None or recipe.activation_checkpointing),
                               "frozen_in_amp_dtype": bool(
                                   recipe and recipe.frozen_in_amp_dtype)},
              "config_tail": config.config_file.read_text().split("Studio overrides")[-1]}
    if ckpt is None or not answer:
        if chat is not None:
            chat.unload()
        return result
    import torch
    from backend.compare.adapters import write_adapters
    if not ctx.tiny:
        torch.cuda.reset_peak_memory_stats()
    t_quick = time.monotonic()
    write_adapters(ckpt, run / "hf_quick", llm_path=ctx.paths.llm,
                   visual_encoder_path=ctx.paths.visual_encoder,
                   llm_lora_alpha=options.llm_lora_alpha,
                   visual_lora_alpha=options.visual_lora_alpha)
    t_chat = time.monotonic()
    if chat is None:
        chat = ChatModels(ctx.paths, "cpu" if ctx.tiny else "cuda")
        chat.load()
    chat.attach("run", run / "hf_quick")
    loaded = time.monotonic()
    question, reference = QA[0]
    texts = []
    for texts, _done in chat.stream_many([(Dialogue(BASE, str(image)), question),
                                          (Dialogue("run", str(image)), question)]):
        pass
    answered = time.monotonic()
    result["chat"] = {"adapters_from_checkpoint_s": t_chat - t_quick, "warm": warm_chat,
                      "load_attach_s": loaded - t_chat, "answers_s": answered - loaded,
                      "base": texts[0], "finetuned": texts[1]}
    result["end_to_end_s"] = answered - t0
    # The outcome check (outside the end-to-end time): every trained question.
    scores = []
    for asked, ref in QA:
        for texts, _done in chat.stream_many([(Dialogue("run", str(image)), asked)]):
            pass
        scores.append({"question": asked, "answer": texts[0], "rouge_l": rouge_l(texts[0], ref)})
    result["outcome"] = {"min_rouge_l": min(s["rouge_l"] for s in scores), "answers": scores}
    if not ctx.tiny:
        result["chat_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result["estimate_chat_gib"] = round(chat_bytes(
            dims, llm_lora_r=options.llm_lora_r, visual_lora_r=visual_lora_r,
            prompt_tokens=ctx.seq_len) / 2**30, 2)
    # pth_to_hf as TrainingService runs it, for use outside the app (timed,
    # not on the way to the answers); its output must answer the same.
    if not ctx.convert or ctx.left() < 120:
        result["convert"] = f"skipped: {ctx.left():.0f} s of the call left (CLI timed the same)"
        chat.unload()
        return result
    c1 = procs.run(convert_command(config.pretrain_config_file, ctx.paths.pretrained_pth,
                                   run / "hf_pretrain"), env, log)
    c2 = procs.run(convert_command(config.config_file, ckpt, run / "hf_finetuned"), env, log)
    result["convert_pretrain_s"], result["convert_finetuned_s"] = c1.seconds, c2.seconds
    result["convert_rc"] = [c1.rc, c2.rc]
    if c2.rc == 0:
        chat.attach("run_pth_to_hf", run / "hf_finetuned")
        for texts, _done in chat.stream_many([(Dialogue("run_pth_to_hf", str(image)), question)]):
            pass
        result["pth_to_hf_answer_same"] = texts[0] == result["chat"]["finetuned"]
    chat.unload()
    del chat
    return result


# ---- (c) Compare at real size: the app's two answers vs one `xtuner chat` ------
def compare_timing(ctx: Context, ckpt: Path, options, repeats: int = 3) -> dict:
    """Warm resident ChatModels answering base + finetuned in one loop (as the
    Compare tab does), ``repeats`` times: time to the first token of both and
    to both answers complete. Then `xtuner chat` on the same models, question
    and adapters (written from ``ckpt`` in pth_to_hf's layout), once with the
    run's adapters and once without the LLM's (the base answer: a random LLM
    never stops, so its length is what the base's is): each one answer's time."""
    from backend.compare.adapters import write_adapters
    from backend.models.chat import BASE, ChatModels, Dialogue

    folder = ctx.work / "compare"
    shutil.rmtree(folder, ignore_errors=True)
    _data, image, _ = make_dataset(folder / "data", 1)
    hf = write_adapters(ckpt, folder / "hf_quick", llm_path=ctx.paths.llm,
                        visual_encoder_path=ctx.paths.visual_encoder,
                        llm_lora_alpha=options.llm_lora_alpha,
                        visual_lora_alpha=options.visual_lora_alpha)
    question = QA[0][0]
    chat = ChatModels(ctx.paths, "cpu" if ctx.tiny else "cuda")
    chat.load()
    chat.attach("run", hf)
    app = []
    for _ in range(repeats):
        start, first, texts = time.monotonic(), None, ["", ""]
        for texts, _done in chat.stream_many([(Dialogue(BASE, str(image)), question),
                                              (Dialogue("run", str(image)), question)]):
            if first is None:  # one round = one token from each model
                first = time.monotonic() - start
        app.append({"first_tokens_s": first, "both_s": time.monotonic() - start,
                    "finetuned": texts[1]})
    chat.unload()
    base_dir = folder / "hf_base"  # the projector only: xtuner chat runs the bare LLM
    shutil.copytree(hf / "projector", base_dir / "projector")
    env = base_env(ctx.threads())
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(key, None)  # a terminal sets none
    xtuner = shutil.which("xtuner") or sys.exit("xtuner CLI not on PATH")
    cli = {}
    for name, llava in (("base", base_dir), ("finetuned", hf)):
        argv = [xtuner, "chat", str(ctx.paths.llm), "--visual-encoder",
                str(ctx.paths.visual_encoder), "--llava", str(llava), "--prompt-template",
                "internlm2_chat", "--image", str(image), "--max-new-tokens", str(MAX_NEW_TOKENS)]
        if ctx.tiny:
            argv += ["--torch-dtype", "fp32"]
        run = procs.run(argv, env, _log(ctx, "compare_xtuner_chat"),
                        stdin_text=f"{question}\n\nexit\n\n", timeout_s=300)
        first, answered = run.time_of(PROMPT, 1), run.time_of(PROMPT, 2)
        cli[name] = {"rc": run.rc, "answer": _chat_answer(run.text),
                     "answer_s": None if first is None or answered is None else answered - first}
    return {"app": app, "xtuner_chat": cli, "checkpoint": ckpt.name}
