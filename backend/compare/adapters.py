"""iter_N.pth -> the adapter folders that ``pth_to_hf`` writes, in seconds.

``xtuner convert pth_to_hf`` rebuilds the whole LLaVA model (LLM, 4-bit
quantisation, CLIP, fresh LoRA layers) only to save the trained weights
again. The checkpoint already holds exactly those weights (LLaVAModel's
state_dict is LoRA + projector), so the resident chat models attach them
straight away (backend/compare/service.py); pth_to_hf still runs afterwards, as the
run's last steps, for the export and for use outside the app.
Layout written (as pth_to_hf's):  llm_adapter/, visual_encoder_adapter/, projector/.
"""
from __future__ import annotations

from pathlib import Path

from backend.runs.checkpoints import name_of as checkpoint_name

LORA = ".lora_A."


def _split(state: dict, prefix: str) -> dict:
    # Checkpoint keys carry peft's adapter name (xtuner's is "default");
    # saved adapters do not: "...wqkv.lora_A.default.weight" -> "...wqkv.lora_A.weight".
    return {k[len(prefix):].replace(".default.", "."): v
            for k, v in state.items() if k.startswith(prefix)}


def _targets(state: dict) -> list[str]:
    return sorted({key.split(LORA)[0].rsplit(".", 1)[-1] for key in state if LORA in key})


def _rank(state: dict) -> int:
    return next(v.shape[0] for k, v in state.items() if LORA in k)


def _save_adapter(state: dict, folder: Path, alpha: int, dropout: float,
                  task_type: str | None, base: str) -> None:
    from peft import LoraConfig
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    LoraConfig(r=_rank(state), lora_alpha=alpha, lora_dropout=dropout, bias="none",
               task_type=task_type, target_modules=_targets(state),
               base_model_name_or_path=base, inference_mode=True).save_pretrained(str(folder))
    save_file({k: v.contiguous() for k, v in state.items()},
              str(folder / "adapter_model.safetensors"))


def write_adapters(checkpoint: Path, out_dir: Path, *, llm_path: Path, visual_encoder_path: Path,
                   llm_lora_alpha: int, visual_lora_alpha: int, lora_dropout: float = 0.05) -> Path:
    """Write ``out_dir`` from an xtuner LLaVA LoRA checkpoint; returns ``out_dir``."""
    from xtuner.model.modules import ProjectorConfig, ProjectorModel
    from xtuner.model.utils import guess_load_checkpoint

    # xtuner's own reader (as pth_to_hf's): an mmengine file, or the folder a
    # DeepSpeed run saves as iter_N.pth.
    state = guess_load_checkpoint(str(checkpoint))
    llm = _split(state, "llm.")
    visual = _split(state, "visual_encoder.")
    projector_state = _split(state, "projector.")
    if not any(LORA in k for k in llm) or not projector_state:
        raise ValueError(f"{checkpoint} holds no LLM LoRA + projector weights.")
    _save_adapter(llm, out_dir / "llm_adapter", llm_lora_alpha, lora_dropout, "CAUSAL_LM",
                  str(llm_path))
    if any(LORA in k for k in visual):
        _save_adapter(visual, out_dir / "visual_encoder_adapter", visual_lora_alpha,
                      lora_dropout, None, str(visual_encoder_path))
    first, last = projector_state["model.0.weight"], projector_state[
        max((k for k in projector_state if k.endswith(".weight")),
            key=lambda k: int(k.split(".")[1]))]
    depth = sum(1 for k in projector_state if k.endswith(".weight"))
    projector = ProjectorModel(ProjectorConfig(visual_hidden_size=first.shape[1],
                                               llm_hidden_size=last.shape[0], depth=depth))
    projector.load_state_dict(projector_state)
    projector.save_pretrained(str(out_dir / "projector"))
    return out_dir


def run_adapters(run_dir: Path, iteration: int, *, llm_path: Path, visual_encoder_path: Path,
                 llm_lora_alpha: int, visual_lora_alpha: int) -> Path:
    """``run_dir/adapters_iter_N`` from ``train/iter_N.pth``, written once.

    Written into a temporary folder renamed at the end, so a crash never
    leaves a half-written folder that a later call would take for finished.
    """
    import shutil

    target = run_dir / f"adapters_iter_{iteration}"
    if (target / "projector").is_dir():
        return target
    checkpoint = run_dir / "train" / checkpoint_name(iteration)  # a folder after DeepSpeed
    if not checkpoint.exists():
        raise FileNotFoundError(f"Checkpoint iter_{iteration}.pth is not on disk.")
    partial = run_dir / f".adapters_iter_{iteration}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    write_adapters(checkpoint, partial, llm_path=llm_path,
                   visual_encoder_path=visual_encoder_path, llm_lora_alpha=llm_lora_alpha,
                   visual_lora_alpha=visual_lora_alpha)
    partial.rename(target)
    return target
