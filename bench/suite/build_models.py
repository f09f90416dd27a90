"""Random-weight, real-size stand-ins for the lesson's three artefacts.

InternLM2-1.8B (xtuner's own InternLM2 modeling code, saved with auto_map so
it loads with trust_remote_code=True like the real checkpoint), CLIP
ViT-L/14-336 and a pretrain-stage projector checkpoint shaped like
iter_2181.pth. Weights are initialised on the GPU (seconds, not minutes);
the same seed gives the same models on every machine.
"""
from __future__ import annotations

import time
from pathlib import Path

from backend.models.demo.tokenizer import build_tokenizer, check_tokenizer
from backend.models.demo.internlm2_folder import write_internlm2_config
from backend.models.paths import ModelPaths

INTERNLM2_1_8B = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
                      num_attention_heads=16, num_key_value_heads=8, vocab_size=92544,
                      rope_theta=1_000_000, max_position_embeddings=32768)
CLIP_L_336 = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                  num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)


def build_llm(folder: Path, corpus: list[str], device: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    # Byte-level BPE (2,048 learned tokens); the model's vocab stays the real
    # 92,544 so embeddings, logits and memory are the real size.
    tokenizer = build_tokenizer(folder, corpus * 4)
    check_tokenizer(tokenizer)
    # As internlm2-chat-1_8b's own config.json.
    cfg = write_internlm2_config(folder, tokenizer, INTERNLM2_1_8B, rms_norm_eps=1e-5,
                                 torch_dtype="bfloat16", rope_scaling=None)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=True,
                                                 torch_dtype=torch.bfloat16)
    model.save_pretrained(str(folder), safe_serialization=True)
    del model


def build_clip(folder: Path, device: str) -> None:
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(1)
    with torch.device(device):
        model = CLIPVisionModel(CLIPVisionConfig(**CLIP_L_336))
    model.save_pretrained(str(folder), safe_serialization=True)
    size = CLIP_L_336["image_size"]
    CLIPImageProcessor(size={"shortest_edge": size},
                       crop_size={"height": size, "width": size}).save_pretrained(str(folder))


def build_projector(path: Path) -> None:
    """iter_2181.pth's layout: an mmengine checkpoint whose state_dict holds
    ``projector.*`` (what LLaVAModel(pretrained_pth=...) and pth_to_hf read)."""
    import torch
    from xtuner.model.modules import ProjectorConfig, ProjectorModel

    torch.manual_seed(2)
    projector = ProjectorModel(ProjectorConfig(visual_hidden_size=CLIP_L_336["hidden_size"],
                                               llm_hidden_size=INTERNLM2_1_8B["hidden_size"],
                                               depth=2))
    state = {f"projector.{k}": v for k, v in projector.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": {"iter": 2181}, "state_dict": state}, str(path))


def build_all(root: Path, corpus: list[str], device: str = "cuda",
              reuse: bool = False) -> tuple[ModelPaths, float]:
    """Build the three artefacts under ``root``; returns their paths and the
    seconds taken. ``reuse``: another process built them there already (the
    projector is written last, so its presence means all three are complete)."""
    import torch

    start = time.monotonic()
    paths = ModelPaths(root / "internlm2-1_8b-random", root / "clip-vit-large-patch14-336-random",
                       root / "pretrain" / "iter_2181.pth")
    if reuse and paths.pretrained_pth.is_file():
        return paths, 0.0
    build_llm(paths.llm, corpus, device)
    build_clip(paths.visual_encoder, device)
    build_projector(paths.pretrained_pth)
    if device == "cuda":
        torch.cuda.empty_cache()
    return paths, time.monotonic() - start
