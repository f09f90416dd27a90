"""TrainConfig (typed, validated once) -> xtuner config file + command line.

The rendered file is xtuner's built-in LLaVA finetune config with the
lesson's edits applied the way the lesson applies them (top-level variables
rewritten), plus a short block of overrides for the chosen device. Only
paths the app generated and validated numbers enter the file; the
questions for EvaluateChatHook are read from a JSON file by our hook
(backend/xtuner/trainer_side/hooks.py), so no user text ever becomes Python.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from backend.xtuner.options import ConfigError, TrainOptions
from backend.xtuner.recipes import (DEEPSPEED_CHOICES, Recipe, checkpoint_contents,
                                    config_lines)

FINETUNE_CONFIG = "llava_internlm2_chat_1_8b_qlora_clip_vit_large_p14_336_lora_e1_gpu8_finetune"
PRETRAIN_CONFIG = "llava_internlm2_chat_1_8b_clip_vit_large_p14_336_e1_gpu8_pretrain"


def builtin_config_path(name: str) -> Path:
    """Where xtuner ships the named config (no import of xtuner's heavy parts)."""
    from importlib.util import find_spec

    spec = find_spec("xtuner")
    root = Path(spec.origin).parent / "configs" / "llava"
    matches = sorted(root.rglob(f"{name}.py"))
    if not matches:
        raise ConfigError(f"xtuner does not ship the config {name}")
    return matches[0]


@dataclass(frozen=True)
class TrainConfig:
    """Everything one run needs; validated on construction."""

    llm_path: Path
    visual_encoder_path: Path
    pretrained_pth: Path
    data_file: Path
    image_file: Path
    questions_file: Path
    work_dir: Path
    options: TrainOptions = field(default_factory=TrainOptions)
    device: str = "cpu"          # "cpu" or "cuda"
    quantize_4bit: bool = False  # the lesson's QLoRA (CUDA only)
    # CUDA only (backend/xtuner/recipes.py): None keeps the plain render above.
    recipe: Recipe | None = None  # recipes.LESSON, recipes.FAST or a bench variant
    deepspeed: str = ""          # "" or "deepspeed_zero2"

    def __post_init__(self):
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"Unknown device {self.device!r}.")
        if self.quantize_4bit and self.device != "cuda":
            raise ConfigError("4-bit QLoRA needs a CUDA GPU.")
        if (self.recipe is not None or self.deepspeed) and self.device != "cuda":
            raise ConfigError("Recipes and DeepSpeed are for CUDA GPUs.")
        if self.recipe is not None and self.recipe.quantize_4bit != self.quantize_4bit:
            raise ConfigError(f"Recipe {self.recipe.name} sets quantize_4bit itself.")
        if self.deepspeed and self.deepspeed not in DEEPSPEED_CHOICES:
            raise ConfigError(f"Unknown DeepSpeed config {self.deepspeed!r}.")
        for name in ("llm_path", "visual_encoder_path", "pretrained_pth", "data_file",
                     "image_file", "questions_file", "work_dir"):
            value = Path(getattr(self, name))
            if not value.is_absolute():
                raise ConfigError(f"{name} must be an absolute path.")
            object.__setattr__(self, name, value)

    @property
    def config_file(self) -> Path:
        return self.work_dir / "finetune_config.py"

    @property
    def pretrain_config_file(self) -> Path:
        return self.work_dir / "pretrain_config.py"


def _literal(value) -> str:
    """A Python literal for a path or number; nothing else is ever rendered."""
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str) and ("\n" in value or "{{" in value):
        raise ConfigError("Paths may not contain newlines or '{{'.")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"Cannot render {type(value).__name__} into a config.")
    return repr(value)


def _set_variable(text: str, name: str, expression: str) -> str:
    pattern = re.compile(rf"^{re.escape(name)} = .*$", re.MULTILINE)
    if not pattern.search(text):
        raise ConfigError(f"The built-in config has no variable {name}.")
    return pattern.sub(lambda _: f"{name} = {expression}", text, count=1)


def _overrides(o: TrainOptions, device: str, quantize_4bit: bool,
               with_lora: bool = True) -> str:
    lines = [
        "",
        "# ---- XTuner LLaVA Studio overrides (rendered, not hand-edited) ----",
    ]
    if with_lora:
        lines += [
            f"model['llm_lora'].update(r={o.llm_lora_r}, lora_alpha={o.llm_lora_alpha})",
            f"model['visual_encoder_lora'].update(r={o.visual_lora_r}, "
            f"lora_alpha={o.visual_lora_alpha})",
        ]
    lines += [
        "# Per-iteration loss in vis_data/scalars.json, for the progress view.",
        "log_processor = dict(by_epoch=False, window_size=1)",
        "default_hooks['logger']['interval'] = 1",
        f"randomness = dict(seed={o.seed}, deterministic=False)",
    ]
    if device == "cpu":
        lines += [
            "# CPU: no 4-bit (bitsandbytes needs CUDA), fp32, no AMP (needs CUDA).",
            "model['llm'].pop('quantization_config', None)",
            "model['llm']['torch_dtype'] = torch.float32",
            "from mmengine.optim import OptimWrapper",
            "optim_wrapper = dict(type=OptimWrapper,",
            "    optimizer=dict(type=optim_type, lr=lr, betas=betas, weight_decay=weight_decay),",
            "    clip_grad=dict(max_norm=max_norm, error_if_nonfinite=False),",
            "    accumulative_counts=accumulative_counts)",
            "env_cfg['dist_cfg'] = dict(backend='gloo')",
            "# Recomputing activations saves GPU memory; on a CPU it only costs time.",
            "model['use_activation_checkpointing'] = False",
            "train_dataloader['pin_memory'] = False",
        ]
    else:
        lines += [
            "# Several GPUs without DeepSpeed = DDP, which fails on parameters that get no",
            "# gradient (most likely the LoRA of CLIP's last layer: LLaVA reads the one before).",
            "# One GPU and DeepSpeed ignore it (measured: bench/RESULTS.md, launch probe).",
            "find_unused_parameters = True",
        ]
    if device == "cuda" and not quantize_4bit:
        lines += [
            "# CUDA without 4-bit: bf16 weights, LoRA on top.",
            "model['llm'].pop('quantization_config', None)",
            "model['llm']['torch_dtype'] = torch.bfloat16",
        ]
    return "\n".join(lines) + "\n"


def render_config(config: TrainConfig) -> str:
    """The finetune config text for this run."""
    o = config.options
    edits = {
        "llm_name_or_path": _literal(config.llm_path),
        "visual_encoder_name_or_path": _literal(config.visual_encoder_path),
        "pretrained_pth": _literal(config.pretrained_pth),
        "data_root": _literal(str(config.data_file.parent) + "/"),
        "data_path": _literal(config.data_file),
        "image_folder": _literal(config.image_file.parent),
        "max_length": _literal(o.max_length),
        "batch_size": _literal(o.batch_size),
        "dataloader_num_workers": "0",
        "max_epochs": _literal(o.epochs),
        "lr": _literal(o.lr),
        "warmup_ratio": _literal(o.warmup_ratio),
        "save_steps": _literal(o.save_steps),
        "save_total_limit": _literal(o.save_total_limit),
        "evaluation_freq": _literal(o.evaluation_freq),
        # Local file: the built-in URL is fetched at start and hangs offline.
        "evaluation_images": _literal(config.image_file),
    }
    hook = [
        "# The questions live in a JSON file (user text never enters this file).",
        "from backend.xtuner.trainer_side.hooks import QuestionsFileEvaluateChatHook",
        "custom_hooks[1] = dict(custom_hooks[1], type=QuestionsFileEvaluateChatHook,",
        f"                       questions_file={_literal(config.questions_file)})",
        "custom_hooks[1].pop('evaluation_inputs')",
        "# Each training process says which rank it is (a multi-GPU log shows them all).",
        "from backend.xtuner.trainer_side.hooks import RankReportHook",
        "custom_hooks.append(dict(type=RankReportHook))",
        "# Stop saves where it stopped (the app writes a stop-request file).",
        "from backend.xtuner.trainer_side.hooks import SaveOnStopHook",
        "custom_hooks.append(dict(type=SaveOnStopHook))",
    ]
    contents = checkpoint_contents(config.recipe, config.deepspeed)
    if contents.optimizer and not contents.final_optimizer:
        hook += [
            "# The last checkpoint without Adam's state: a finished run never resumes.",
            "from backend.xtuner.trainer_side.hooks import LeanFinalCheckpointHook",
            "custom_hooks.append(dict(type=LeanFinalCheckpointHook))",
        ]
    hook.append("")
    return (_apply(FINETUNE_CONFIG, edits)
            + _overrides(o, config.device, config.quantize_4bit) + "\n".join(hook)
            + _recipe_block(config))


def _recipe_block(config: TrainConfig) -> str:
    """The CUDA recipe's overrides, last so they win (backend/xtuner/recipes.py)."""
    if config.recipe is None:
        return ""
    return "\n".join(config_lines(config.recipe)) + "\n"


def render_pretrain_config(config: TrainConfig) -> str:
    """The built-in pretrain config with this run's model paths: what
    ``pth_to_hf`` needs to convert the pretrain-stage checkpoint."""
    return pretrain_config_text(config.llm_path, config.visual_encoder_path, config.image_file,
                                device=config.device, quantize_4bit=config.quantize_4bit,
                                options=config.options)


def pretrain_config_text(llm_path: Path, visual_encoder_path: Path, evaluation_image: Path, *,
                         device: str = "cpu", quantize_4bit: bool = False,
                         options: TrainOptions | None = None,
                         settings: dict[str, object] | None = None) -> str:
    """xtuner's built-in LLaVA pretrain config with these model paths, our
    device overrides, and top-level ``settings`` (e.g. {"lr": 2e-3}; paths
    and numbers only, rendered as literals). The conversions use it as is;
    the demo profile's own pretrain run (backend/models/demo/pretrain.py) adds data
    and schedule settings."""
    edits = {
        "llm_name_or_path": _literal(Path(llm_path)),
        "visual_encoder_name_or_path": _literal(Path(visual_encoder_path)),
        # Local file: the built-in URL is fetched at start and hangs offline.
        "evaluation_images": _literal(Path(evaluation_image)),
        **{name: _literal(value) for name, value in (settings or {}).items()},
    }
    return (_apply(PRETRAIN_CONFIG, edits)
            + _overrides(options or TrainOptions(), device, quantize_4bit, with_lora=False))


def _apply(builtin_name: str, edits: dict[str, str]) -> str:
    text = builtin_config_path(builtin_name).read_text(encoding="utf-8")
    for name, expression in edits.items():
        text = _set_variable(text, name, expression)
    return text


def write_configs(config: TrainConfig) -> tuple[Path, Path]:
    """Write the finetune config and the pretrain (conversion) config."""
    config.work_dir.mkdir(parents=True, exist_ok=True)
    config.config_file.write_text(render_config(config), encoding="utf-8")
    config.pretrain_config_file.write_text(render_pretrain_config(config), encoding="utf-8")
    return config.config_file, config.pretrain_config_file


def train_command(config: TrainConfig, python: str = sys.executable,
                  resume: Path | None = None) -> list[str]:
    """The argument list that trains this run (never a shell string).

    ``python -m xtuner.tools.train`` rather than the ``xtuner`` wrapper: the
    wrapper exits 0 even when training fails.
    """
    return [python, "-m", "xtuner.tools.train",
            *train_script_args(config.config_file, config.work_dir / "train",
                               config.deepspeed, resume)]


def train_script_args(config_file: Path, work_dir: Path, deepspeed: str = "",
                      resume: Path | None = None) -> list[str]:
    """xtuner's train script's own arguments, however it is started (directly,
    torchrun, srun): ``CONFIG --work-dir DIR [--deepspeed NAME] [--resume PTH]``."""
    args = [str(config_file), "--work-dir", str(work_dir)]
    if deepspeed:  # as the lesson runs it: --deepspeed deepspeed_zero2
        args += ["--deepspeed", deepspeed]
    if resume is not None:
        args += ["--resume", str(resume)]
    return args


def convert_command(config_file: Path, checkpoint: Path, out_dir: Path,
                    python: str = sys.executable) -> list[str]:
    """``xtuner convert pth_to_hf`` as an argument list (fp32: the pretrain
    checkpoint refuses ``.half()`` on a quantized model)."""
    return [python, "-m", "xtuner.tools.model_converters.pth_to_hf",
            str(config_file), str(checkpoint), str(out_dir), "--fp32"]


def terminal_commands(config: TrainConfig, checkpoint_name: str = "iter_N.pth") -> str:
    """What a student would type for the same steps, as in the lesson."""
    train_dir = config.work_dir / "train"
    return "\n".join([
        f"xtuner train {config.config_file} --work-dir {train_dir}",
        f"xtuner convert pth_to_hf {config.pretrain_config_file} {config.pretrained_pth} "
        f"{config.work_dir / 'hf_pretrain'}",
        f"xtuner convert pth_to_hf {config.config_file} {train_dir / checkpoint_name} "
        f"{config.work_dir / 'hf_finetuned'}",
        f"xtuner chat {config.llm_path} --visual-encoder {config.visual_encoder_path} "
        f"--llava {config.work_dir / 'hf_finetuned'} --prompt-template internlm2_chat "
        f"--image {config.image_file}",
    ])
