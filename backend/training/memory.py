"""Peak GPU memory of a training run or of the resident chat models, from the
model configs alone (no torch), checked against free memory before starting.

Where the bytes go, per GPU (xtuner 0.2.0's LLaVAModel; checked against
measured peaks in bench/RESULTS.md, mmengine's ``memory:`` = max allocated):
  * peft's prepare_model_for_kbit_training (which xtuner calls for every LoRA
    LLM) casts every non-4-bit LLM weight to fp32: with 4-bit only the
    embeddings and output stay fp32; without 4-bit the whole LLM is fp32;
  * 4-bit NF4 with double quantisation: ~0.52 bytes per linear weight;
  * CLIP is loaded in fp32 (the built-in config gives no dtype);
  * trainable LoRA + projector: fp32 weight, grad and Adam's two moments
    (16 bytes), plus autocast's cached half copy (2 bytes);
  * per LLM token: the fp32 logits and their copies for the loss
    (~12 bytes x vocab) and the checkpointed layer inputs (~8 bytes x hidden
    x layers); without activation checkpointing every layer's activations;
  * CLIP with LoRA is trained through: without activation checkpointing every
    CLIP layer's activations are kept for the backward pass (with it, only
    layer inputs, small beside the LLM's); frozen CLIP without LoRA keeps
    none and has no LoRA weights, gradients or Adam moments.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from backend.errors import StudioError

GIB = 1024 ** 3
# Image tokens of CLIP ViT-L/14-336 that LLaVA splices into the prompt.
RESERVE_BYTES = int(1.0 * GIB)   # CUDA context + allocator slack not in max_allocated
SAFETY = 1.10                    # the estimate is within ~15%: ask for 10% more


class MemoryCheckError(StudioError, RuntimeError):
    """The run or the chat models would not fit on the chosen GPUs."""


@dataclass(frozen=True)
class ModelDims:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    clip_hidden: int
    clip_intermediate: int
    clip_layers: int
    image_size: int
    patch_size: int

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def llm_linear_params(self) -> int:
        h, i = self.hidden, self.intermediate
        qkv = h + 2 * self.kv_heads * (h // self.heads)
        return self.layers * (h * qkv + h * h + 3 * h * i)

    @property
    def llm_embedding_params(self) -> int:
        return 2 * self.vocab * self.hidden  # input embeddings + untied output

    @property
    def clip_params(self) -> int:
        hc, ic = self.clip_hidden, self.clip_intermediate
        return self.clip_layers * (4 * hc * hc + 2 * hc * ic)

    def llm_lora_params(self, r: int) -> int:
        h, i = self.hidden, self.intermediate
        qkv = h + 2 * self.kv_heads * (h // self.heads)
        # xtuner targets every linear layer, the output head included.
        return self.layers * r * ((h + qkv) + 2 * h + 3 * (h + i)) + r * (h + self.vocab)

    def clip_lora_params(self, r: int) -> int:
        hc, ic = self.clip_hidden, self.clip_intermediate
        return self.clip_layers * r * (4 * 2 * hc + 2 * (hc + ic))

    @property
    def projector_params(self) -> int:
        return self.clip_hidden * self.hidden + self.hidden * self.hidden


def dims_from_dirs(llm_dir: Path, clip_dir: Path) -> ModelDims:
    """Read the two config.json files (a CLIP folder may hold a full CLIP
    config with a vision_config inside)."""
    llm = json.loads((Path(llm_dir) / "config.json").read_text(encoding="utf-8"))
    clip = json.loads((Path(clip_dir) / "config.json").read_text(encoding="utf-8"))
    clip = clip.get("vision_config", clip)
    return ModelDims(
        hidden=llm["hidden_size"], intermediate=llm["intermediate_size"],
        layers=llm["num_hidden_layers"], heads=llm["num_attention_heads"],
        kv_heads=llm.get("num_key_value_heads", llm["num_attention_heads"]),
        vocab=llm["vocab_size"], clip_hidden=clip.get("hidden_size", 1024),
        clip_intermediate=clip.get("intermediate_size", 4096),
        clip_layers=clip.get("num_hidden_layers", 24),
        image_size=clip.get("image_size", 336), patch_size=clip.get("patch_size", 14))


def training_bytes(dims: ModelDims, *, quantize_4bit: bool, batch_size: int, seq_len: int,
                   llm_lora_r: int = 512, visual_lora_r: int = 64,
                   activation_checkpointing: bool = True, nproc: int = 1,
                   deepspeed: str = "", frozen_in_amp_dtype: bool = False) -> int:
    """Estimated peak allocated bytes on each GPU. ``seq_len`` counts LLM
    tokens per sample, image tokens included. ``frozen_in_amp_dtype``: the
    frozen matmul weights stored in 16 bits (lean_step.FrozenWeightsHook; the
    input embeddings stay fp32).

    The backward pass frees activations while it fills in the gradients, so
    the peak holds the larger of the two, not both. Without activation
    checkpointing, autocast's 16-bit copies of fp32 frozen weights are kept
    for the backward pass too (none when they are stored in 16 bits)."""
    frozen_bytes = 2 if frozen_in_amp_dtype else 4  # matmul weights; embeddings stay fp32
    head = dims.llm_embedding_params / 2             # the output layer (a Linear)
    saved_copies = 0
    if quantize_4bit:
        frozen = 0.52 * dims.llm_linear_params + 4 * head + frozen_bytes * head
        # fp16 copy of the output layer
        half_copies = 0 if frozen_in_amp_dtype else 2 * head
    else:
        frozen = frozen_bytes * (dims.llm_linear_params + head) + 4 * head
        half_copies = 0
        if not frozen_in_amp_dtype:
            saved_copies = 2 * dims.llm_linear_params
    frozen += frozen_bytes * dims.clip_params
    trainable = (dims.llm_lora_params(llm_lora_r) + dims.clip_lora_params(visual_lora_r)
                 + dims.projector_params)
    if nproc > 1 and deepspeed:
        per_param, grad_bytes = 4 + 2 + 8 / nproc, 4 / nproc  # ZeRO-2 shards grads + Adam
    elif nproc > 1:
        per_param, grad_bytes = 12 + 2 + 4, 4  # DDP keeps a gradient bucket copy
    else:
        per_param, grad_bytes = 12 + 2, 4      # weight, Adam's moments, half copy
    tokens = batch_size * seq_len
    per_token = 12 * dims.vocab + 8 * dims.hidden * dims.layers
    activations = batch_size * clip_backward_bytes(dims, visual_lora_r, activation_checkpointing)
    if not activation_checkpointing:
        activations += (tokens * dims.layers * (34 * dims.hidden + 10 * dims.intermediate)
                        + saved_copies)
    return int(frozen + half_copies + per_param * trainable + tokens * per_token
               + max(grad_bytes * trainable, activations))


def clip_backward_bytes(dims: ModelDims, visual_lora_r: int,
                        activation_checkpointing: bool) -> int:
    """What one image's pass through CLIP keeps for the backward pass: nothing
    when CLIP is frozen without LoRA (``visual_lora_r`` 0)."""
    if not visual_lora_r or activation_checkpointing:
        return 0
    tokens = dims.image_tokens + 1  # the patches and CLIP's class token
    return tokens * dims.clip_layers * (34 * dims.clip_hidden + 10 * dims.clip_intermediate)


def chat_bytes(dims: ModelDims, *, llm_lora_r: int = 512, visual_lora_r: int = 64,
               attached_runs: int = 1, prompt_tokens: int = 1024) -> int:
    """Resident chat models in bf16, plus each attached run's fp32 adapters
    (peft upcasts them; loading one holds a second copy for a moment) and the
    fp32 logits of two prompts (Compare reads the base's and the run's in one
    batch: ChatModels._step_together)."""
    base = 2 * (dims.llm_linear_params + dims.llm_embedding_params + dims.clip_params)
    adapters = (attached_runs + 1) * 4 * (dims.llm_lora_params(llm_lora_r)
                                    + dims.clip_lora_params(visual_lora_r)
                                    + dims.projector_params)
    return int(base + 2 * dims.projector_params + adapters + 2 * prompt_tokens * dims.vocab * 6)


def with_margin(needed_bytes: int) -> int:
    """Free memory a GPU must have for an estimate: +10% and the 1 GiB reserve
    (the submit check and the scheduler's admission use the same rule)."""
    return int(needed_bytes * SAFETY + RESERVE_BYTES)


def check_fits(what: str, needed_bytes: int, free_bytes: dict[int, int], hint: str = "") -> None:
    """Refuse (MemoryCheckError) when any chosen GPU has too little free memory."""
    want = with_margin(needed_bytes)
    short = {i: free for i, free in free_bytes.items() if free < want}
    if short:
        where = ", ".join(f"GPU {i} has {free / GIB:.1f} GiB free" for i, free in short.items())
        raise MemoryCheckError(
            f"Not enough GPU memory for {what}: it needs about {needed_bytes / GIB:.1f} GiB "
            f"per GPU (+10% and 1 GiB headroom = {want / GIB:.1f} GiB), but {where}."
            + (f" {hint}" if hint else ""))


def check_chat(llm_path: Path, visual_encoder_path: Path, free_bytes: dict[int, int]) -> None:
    """Before the resident chat models load: refuse (MemoryCheckError) when
    they would not fit what the GPU has free now."""
    check_fits("the chat models (base + finetuned)",
               chat_bytes(dims_from_dirs(llm_path, visual_encoder_path)), free_bytes,
               "Wait until the conversion or another program on this GPU has finished.")
