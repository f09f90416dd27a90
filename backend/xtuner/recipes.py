"""The two CUDA training recipes: the lesson's QLoRA, and a faster bf16 one.

A recipe is what changes in the rendered xtuner config on a GPU (plus the
options it starts from); the user's own options still apply on top. The
numbers behind the fast recipe are in bench/RESULTS.md.
"""
from __future__ import annotations

from dataclasses import dataclass

from backend.xtuner.options import ConfigError, TrainOptions

DEEPSPEED_CHOICES = ("deepspeed_zero2",)


@dataclass(frozen=True)
class Recipe:
    name: str
    quantize_4bit: bool           # NF4 QLoRA (bitsandbytes) on the LLM
    options: TrainOptions         # the defaults this recipe starts from
    amp_dtype: str                # AmpOptimWrapper autocast dtype
    sdpa: bool                    # torch SDPA attention instead of InternLM2's eager
    save_optimizer: bool          # optimizer state in iter_N.pth (resume restarts Adam without)
    evaluation_passes: bool       # xtuner's EvaluateChatHook during training
    activation_checkpointing: bool = True
    # Cap on each evaluation answer (xtuner's default is 600 tokens: ~25 s per
    # question at 4-bit, for answers that are a sentence or two).
    evaluation_max_new_tokens: int = 64
    dataloader_workers: int = 0   # the app renders 0 (CPU runs); GPUs starve without
    constant_lr: bool = False     # hold lr after warmup instead of xtuner's cosine decay
    adam_beta2: float = 0.999     # xtuner's default; 0.95 reacts sooner to growing gradients
    # LoRA+ (Hayou et al. 2024): the B matrices learn at lr x this, A at lr.
    lora_b_lr_mult: float = 1.0
    # torch.compile of each transformer block ("" off; "default" or "reduce-overhead"
    # = CUDA graphs): batch-1 steps are CPU-dispatch bound (bench/RESULTS.md, profile).
    compile_mode: str = ""
    # False: CLIP stays frozen without LoRA (the image encoder then needs no
    # backward pass): 41% fewer operator calls per batch-1 step, measured on
    # 24-layer narrow models on the CPU (bench/probes/op_count.py).
    visual_lora: bool = True
    lora_dropout: float | None = None  # None: the built-in config's 0.05
    # torch's fused AdamW kernel: one launch for every LoRA tensor instead of
    # several per tensor (batch-1 steps are launch-bound: bench/RESULTS.md).
    fused_adam: bool = False
    # Frozen LLM and CLIP matmul (nn.Linear) weights stored in the autocast dtype
    # (peft leaves the LLM's in fp32): no per-step casts, and no cast copies kept
    # for the backward pass (backend/xtuner/trainer_side/lean_step.py).
    frozen_in_amp_dtype: bool = False
    # mmengine's dynamic GradScaler; bf16 has fp32's range, so without it a bf16
    # step saves the scaling, the unscaling and an inf check that waits for the GPU.
    loss_scaler: bool = True
    # One autograd node per LoRA layer instead of peft's dozen (lean_step.py).
    fused_lora: bool = False
    # Seconds per training step measured on one H200 through the app (bench/RESULTS.md):
    # what the Finetune tab's time estimate for this recipe is made of; 0: not measured.
    s_per_iter: float = 0.0
    description: str = ""

    def visual_lora_rank(self, options: TrainOptions) -> int:
        """CLIP's LoRA rank as trained (0: frozen without LoRA), for memory estimates."""
        return options.visual_lora_r if self.visual_lora else 0


# The lesson, unchanged: 4-bit NF4 LLM, LoRA r=512/alpha=256 (LLM) and r=64 (CLIP),
# fp16 AMP, batch 1, full checkpoints; the evaluation passes stay (the progress
# view shows them), each answer capped at 64 tokens.
LESSON = Recipe(
    name="lesson", quantize_4bit=True, options=TrainOptions(), amp_dtype="float16",
    sdpa=False, save_optimizer=True, evaluation_passes=True, s_per_iter=0.542,
    description="The lesson's QLoRA recipe: 4-bit NF4, LoRA r=512/64, AMP, batch 1.")

# Same data, epochs, batch size and LLM LoRA shape; what makes it faster:
#  * bf16 weights instead of 4-bit: no dequantisation in every matmul;
#  * no activation checkpointing (no recomputed forward; bf16 leaves the room);
#  * no LoRA on CLIP: CLIP stays frozen, so it needs no backward pass and has no
#    optimizer state (41% fewer operator calls a step: bench/probes/op_count.py);
#    all the Q&A of a lesson dataset share one image, so CLIP's LoRA cannot tell
#    the questions apart anyway;
#  * LoRA dropout 0 (a few percent fewer operator calls, no dropout masks);
#  * the frozen LLM and CLIP matmul weights stored in bf16, not the fp32 peft
#    casts them to: no weight casts in every step, about 6 GiB less at the
#    peak at the lesson's 619 tokens, the same numbers;
#  * no GradScaler: bf16 needs no loss scaling, and its inf check waits for
#    the GPU every step;
#  * 4 dataloader workers: image decoding took 0.2 s of a step without;
#  * bf16 autocast: no fp16 loss overflow, so no skipped first steps;
#  * SDPA attention (InternLM2's config asks for eager);
#  * no in-training evaluation passes: the app answers the trained questions
#    itself right after training, with the resident model;
#  * no optimizer state in checkpoints (a third of the size; a resumed run
#    restarts Adam's moments, which mmengine allows).
# Batch 1 stays: on the random-weight benchmark models the outcome follows
# the number of optimizer steps, and every larger batch tried (2 to 16, with
# lr scaled up to 10x) reproduced fewer trained answers.
# Measured on one H200, alone, the whole 1,200 samples with the outcome check
# (issue 18: bench/device/explore.sh b1:lr2e-4:nockpt:novis:drop0, before fused
# AdamW was added): 6 of 6 trained answers reproduced (ROUGE-L 1.00), 0.1732 s/iter,
# 27.5 s to the first step, peak 21.5 GB (mmengine), about 0.25x the lesson's CLI
# flow end to end; the lesson's own recipe reproduces 4 of 6 at 0.542 s/iter
# (bench/RESULTS.md). With torch's fused AdamW added (alone on an
# H200): 0.1787 s/iter, 5 of 6, peak 21,561 MiB: no gain at batch 1, so it stays
# off here (``fused_adam`` is there for the bench).
# 150 steps of each variant alone on one H200 in one call
# (bench/device/pace.sh): every frozen weight in bf16 took the peak from 21,553
# to 14,953 MiB; without the GradScaler as well, 0.1773 s/iter against 0.1992
# for the recipe before. One autograd node per LoRA layer (``fused_lora``)
# measured 0.1917 beside them: no gain, so it stays off (there for the bench).
# A whole-length run with every frozen weight in bf16 reproduced only 3 of 6:
# the norms and embeddings in bf16 put the residual stream in bf16. So only the
# frozen Linear weights are stored in bf16, which autocast casts to bf16 in
# every step anyway: with that and without the GradScaler the step computes
# bit for bit what the recipe measured at 6 of 6 did (tests/unit/test_lean_step.py).
FAST = Recipe(
    name="fast", quantize_4bit=False, options=TrainOptions(),
    amp_dtype="bfloat16", sdpa=True, save_optimizer=False, evaluation_passes=False,
    activation_checkpointing=False, dataloader_workers=4, visual_lora=False,
    lora_dropout=0.0, frozen_in_amp_dtype=True, loss_scaler=False, s_per_iter=0.1773,
    description="bf16 LoRA on the LLM only (CLIP frozen), dropout 0, batch 1, "
                "no activation checkpointing, SDPA, no evaluation passes: "
                "about a third of the lesson recipe's step time on an H200.")

RECIPES = {recipe.name: recipe for recipe in (LESSON, FAST)}


class RecipeChoiceError(ConfigError):
    """A run's ``recipe`` option this server cannot take; said in the page's
    language from ui/messages.py (``message_key``)."""

    def __init__(self, key: str, text: str, **fields):
        self.message_key, self.message_fields = key, fields
        super().__init__(text)


def run_recipe(request, server_recipe: Recipe | None) -> Recipe | None:
    """The recipe a run trains with: ``request`` is the ``"recipe"`` key of its
    options (None: not given), ``server_recipe`` the server's ``--recipe``
    (None: the server trains on the CPU, where recipes do not apply)."""
    if request is None:
        return server_recipe
    if server_recipe is None:
        raise RecipeChoiceError(
            "err_recipe_cpu", "The recipe option is for CUDA GPUs; this server trains on "
            "the CPU, with the lesson's settings in fp32. Leave out \"recipe\".")
    if not isinstance(request, str) or request not in RECIPES:
        known = ", ".join(RECIPES)
        raise RecipeChoiceError(
            "err_recipe_unknown", f"Unknown recipe {str(request)[:40]!r}: choose one of "
            f"{known} (lesson = the lesson's QLoRA).", known=known)
    return RECIPES[request]


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"Unknown recipe {name!r}; known: {', '.join(RECIPES)}.") from None


@dataclass(frozen=True)
class CheckpointContents:
    """Whether a run's iter_N.pth files hold Adam's state beside the weights."""
    optimizer: bool        # save_steps and Stop checkpoints: what Resume continues from
    final_optimizer: bool  # the last iteration's: a finished run never resumes


def checkpoint_contents(recipe: Recipe | None, deepspeed: str = "") -> CheckpointContents:
    """The one rule for what checkpoints hold; the rendered config
    (LeanFinalCheckpointHook) and the disk estimate both follow it. The final
    checkpoint drops Adam's state, except under DeepSpeed: there mmengine
    honours save_optimizer=False for ZeRO-2 by writing one file in place of
    its checkpoint folder, and DeepSpeed runs stay as they were."""
    optimizer = recipe is None or recipe.save_optimizer
    return CheckpointContents(optimizer=optimizer, final_optimizer=optimizer and bool(deepspeed))


def config_lines(recipe: Recipe) -> list[str]:
    """Override lines for the rendered config (CUDA only). Constants only:
    nothing here comes from user input."""
    lines = [f"# CUDA recipe: {recipe.name}"]
    if not recipe.quantize_4bit:
        lines += [
            "model['llm'].pop('quantization_config', None)",
            "model['llm']['torch_dtype'] = torch.bfloat16",
        ]
    lines.append(f"optim_wrapper['dtype'] = {recipe.amp_dtype!r}")
    if not recipe.loss_scaler:
        # bf16 has fp32's range: loss scaling only skips steps. AmpOptimWrapper
        # builds GradScaler(**dict), and a disabled one passes everything through.
        lines.append("optim_wrapper['loss_scale'] = dict(enabled=False)")
    if recipe.frozen_in_amp_dtype:
        lines += ["from backend.xtuner.trainer_side.lean_step import FrozenWeightsHook",
                  "custom_hooks.append(dict(type=FrozenWeightsHook, "
                  f"dtype={recipe.amp_dtype!r}))"]
    if recipe.fused_lora:
        lines += ["from backend.xtuner.trainer_side.lean_step import FusedLoraHook",
                  "custom_hooks.append(dict(type=FusedLoraHook))"]
    if recipe.sdpa:
        # LLaVAModel keeps an explicit attn_implementation (llava.py
        # _prepare_for_flash_attn); InternLM2's code has an SDPA class.
        lines.append("model['llm']['attn_implementation'] = 'sdpa'")
    if not recipe.activation_checkpointing:
        lines.append("model['use_activation_checkpointing'] = False")
    if recipe.constant_lr:
        # param_scheduler[1] is the CosineAnnealingLR after warmup; an
        # eta_min equal to the base lr makes it flat.
        lines.append("param_scheduler[1]['eta_min'] = lr")
    if recipe.adam_beta2 != 0.999:
        lines.append(f"optim_wrapper['optimizer']['betas'] = (0.9, {recipe.adam_beta2!r})")
    if recipe.fused_adam:
        # torch.optim.AdamW(fused=True): mmengine passes the dict's keys on.
        lines.append("optim_wrapper['optimizer']['fused'] = True")
    if recipe.lora_b_lr_mult != 1.0:
        # mmengine's default constructor: a parameter whose name contains a
        # custom key gets lr x lr_mult (peft names them ...lora_B.default.weight).
        lines.append("optim_wrapper['paramwise_cfg'] = dict(custom_keys={'lora_B': "
                     f"dict(lr_mult={recipe.lora_b_lr_mult!r})}})")
    if recipe.compile_mode:
        # Block by block (backend/xtuner/trainer_side/hooks.py): mmengine's own `compile`
        # option fails to trace its train_step under torch 2.11.
        lines += ["from backend.xtuner.trainer_side.hooks import CompileBlocksHook",
                  f"custom_hooks.append(dict(type=CompileBlocksHook, mode={recipe.compile_mode!r}))"]
    if not recipe.visual_lora:
        lines.append("model['visual_encoder_lora'] = None")
    if recipe.lora_dropout is not None:
        lines.append(f"model['llm_lora']['lora_dropout'] = {recipe.lora_dropout!r}")
        if recipe.visual_lora:
            lines.append(f"model['visual_encoder_lora']['lora_dropout'] = {recipe.lora_dropout!r}")
    if recipe.dataloader_workers:
        lines.append(f"train_dataloader['num_workers'] = {recipe.dataloader_workers}")
    if not recipe.save_optimizer:
        lines.append("default_hooks['checkpoint']['save_optimizer'] = False")
    # custom_hooks[0] is DatasetInfoHook; [1] the EvaluateChatHook.
    if not recipe.evaluation_passes:
        lines.append("custom_hooks.pop(1)")
    else:
        lines.append(f"custom_hooks[1]['max_new_tokens'] = {recipe.evaluation_max_new_tokens}")
    return lines
