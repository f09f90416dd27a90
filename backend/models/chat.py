"""Answers from the pretrain-only (iter_2181) and finetuned models.

The LLM and CLIP are loaded once. "base" = LoRA adapters disabled + the
pretrain projector; a finetuned run = its adapters (loaded by name from its
pth_to_hf output) + its projector. Generation is our own short greedy loop
over the KV cache, one token per step, so two models can be stepped in turn
by one loop and every step can be streamed.
"""
from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from backend.models.paths import ModelPaths
from backend.models.chat_budget import fit_history as fit_history_of
from backend.models.adapter_switch import BASE, AdapterSwitch
from backend.models.kv_cache import cache_row
from backend.models.prompt import MAX_NEW_TOKENS, ChatError, prompt_ids  # noqa: F401  (re-exported)
from backend.models.readable_text import readable

MAX_ATTACHED_RUNS = 4


UNLOADED = ("The chat models were unloaded because a training run needs the GPU; ask again "
            "when its training has finished.")


def _with_adapter(module, adapter_dir: Path, name: str):
    """``module`` with the saved LoRA adapter in ``adapter_dir`` added as ``name``
    (wrapped in a PeftModel the first time).

    low_cpu_mem_usage: the LoRA layers are made empty and take the saved
    weights as they are, instead of being filled with random numbers first
    only to be overwritten (the fast recipe's r=512 LLM adapter is 0.5 G
    parameters; tests/service/test_chat_batch.py checks the weights land
    exactly)."""
    from peft import PeftModel

    if isinstance(module, PeftModel):
        module.load_adapter(str(adapter_dir), adapter_name=name, low_cpu_mem_usage=True)
        return module
    return PeftModel.from_pretrained(module, str(adapter_dir), adapter_name=name,
                                     low_cpu_mem_usage=True).eval()


@dataclass
class _Attached:
    projector: object
    has_visual_adapter: bool


@dataclass
class Dialogue:
    """One model's own conversation about one image (multi-turn history)."""

    model: str
    image: str
    turns: list[tuple[str, str]] = field(default_factory=list)


class ChatModels:
    """Resident LLM + CLIP with per-run adapters attached on demand."""

    def __init__(self, paths: ModelPaths, device: str = "cpu",
                 memory_check: Callable[[ModelPaths], None] | None = None):
        self.paths = paths
        self.device = device
        self.memory_check = memory_check  # CUDA: refuses before anything loads
        self._lock = threading.RLock()
        self._loaded = False
        # From before the memory check until the load ends: the GPU's free
        # memory is changing, so the scheduler places no run there meanwhile.
        self.loading = False
        self._attached: dict[str, _Attached] = {}
        self._adapters = AdapterSwitch()

    # ---- loading ----------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self.loading = True
            try:
                self._load()
            finally:
                self.loading = False

    def _load(self) -> None:
        """Under load()'s lock."""
        if self.memory_check is not None:
            self.memory_check(self.paths)
        from backend.xtuner.trainer_side import patches as xtuner_patches  # noqa: F401
        import torch
        from transformers import (AutoModelForCausalLM, AutoTokenizer,
                                  CLIPImageProcessor, CLIPVisionModel)
        from xtuner.model.modules import ProjectorConfig, ProjectorModel

        dtype = torch.float32 if self.device == "cpu" else torch.bfloat16
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.paths.llm, trust_remote_code=True, encode_special_tokens=True)
        self.llm = AutoModelForCausalLM.from_pretrained(
            self.paths.llm, trust_remote_code=True, torch_dtype=dtype).to(self.device).eval()
        self.visual_encoder = CLIPVisionModel.from_pretrained(
            self.paths.visual_encoder, torch_dtype=dtype).to(self.device).eval()
        self.image_processor = CLIPImageProcessor.from_pretrained(self.paths.visual_encoder)
        config = ProjectorConfig(
            visual_hidden_size=self.visual_encoder.config.hidden_size,
            llm_hidden_size=self.llm.config.hidden_size, depth=2)
        projector = ProjectorModel(config).to(dtype)
        state = torch.load(self.paths.pretrained_pth, map_location="cpu", weights_only=False)
        state = state.get("state_dict", state)
        projector.load_state_dict({k[len("projector."):]: v for k, v in state.items()
                                   if k.startswith("projector.")})
        self.base_projector = projector.to(self.device).eval()
        self.im_end_id = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        self._adapters.forget()
        self._loaded = True

    def unload(self) -> None:
        """Free the memory (a training run placed on this GPU needs it)."""
        with self._lock:
            for name in ("llm", "visual_encoder", "base_projector"):
                self.__dict__.pop(name, None)
            self._attached.clear()
            self._adapters.forget()
            self._loaded = False
            # The training memory check already counted this memory as free:
            # collect reference cycles (peft, HF modules) so empty_cache gets it all.
            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:
                pass

    def attach(self, name: str, hf_dir: Path) -> None:
        """Load a run's converted adapters + projector under ``name``."""
        from xtuner.model.modules import ProjectorModel

        with self._lock:
            self.load()
            if name in self._attached:
                return
            llm_adapter = hf_dir / "llm_adapter"
            projector_dir = hf_dir / "projector"
            if not llm_adapter.is_dir() or not projector_dir.is_dir():
                raise ChatError(f"Run {name} has no converted model in {hf_dir}.")
            self._adapters.dress()  # peft adds the adapter to its own LoRA layers
            if len(self._attached) >= MAX_ATTACHED_RUNS:
                self._detach(next(iter(self._attached)))
            self.llm = _with_adapter(self.llm, llm_adapter, name)
            visual_adapter = hf_dir / "visual_encoder_adapter"
            if visual_adapter.is_dir():
                self.visual_encoder = _with_adapter(self.visual_encoder, visual_adapter, name)
            projector = ProjectorModel.from_pretrained(str(projector_dir)).to(
                self.base_projector.dtype).to(self.device).eval()
            self._attached[name] = _Attached(projector, visual_adapter.is_dir())
            self._adapters.forget()

    def _detach(self, name: str) -> None:
        self._adapters.dress()
        attached = self._attached.pop(name)
        self.llm.delete_adapter(name)
        if attached.has_visual_adapter:
            self.visual_encoder.delete_adapter(name)

    def special_tokens(self) -> frozenset[str]:
        """The LLM tokenizer's special tokens (refused in questions), read from
        its folder: known without loading the models."""
        from backend.data.special_tokens import special_tokens_at

        return special_tokens_at(self.paths.llm)

    # ---- one model's state ----------------------------------------------
    def _select(self, model: str) -> object:
        """Switch adapters for ``model``; return its projector."""
        self._adapters.select(self.llm, self.visual_encoder, model)
        if model == BASE:
            return self.base_projector
        if model not in self._attached:
            raise ChatError(f"Model {model} is not attached.")
        return self._attached[model].projector

    def _prompt_ids(self, dialogue: Dialogue, question: str) -> list[int]:
        return prompt_ids(self.tokenizer, dialogue.turns, question)

    def fit_history(self, turns, question: str) -> tuple[list[tuple[str, str]], int]:
        """The newest turns that fit this model's context; how many were dropped."""
        return fit_history_of(self.paths, turns, question)

    # ---- generation -------------------------------------------------------
    def stream(self, dialogue: Dialogue, question: str,
               max_new_tokens: int = MAX_NEW_TOKENS) -> Iterator[str]:
        """Yield the growing answer, one token at a time (greedy)."""
        for text, _done in self.stream_many([(dialogue, question)], max_new_tokens):
            yield text[0]

    def stream_many(self, requests: list[tuple[Dialogue, str]],
                    max_new_tokens: int = MAX_NEW_TOKENS) -> Iterator[tuple[list[str], bool]]:
        """Step several models, one token each per round.

        Yields (answers so far, all finished). One loop serves the base and
        the finetuned model alike: the side-by-side view is this, not two
        copies of the generation code. Prompts of one length (a first turn:
        the same question about the same image) go through the LLM as one
        batch, each row with its own adapter, until the first answer ends;
        others one after the other.
        """
        self.load()
        states = [self._start(d, q) for d, q in requests]
        together = {"past": None, "rounds": 0} if self._can_batch(states) else None
        while True:
            with self._lock:
                if together is not None:
                    progressed = self._step_together(states, together, max_new_tokens)
                    if any(state["done"] for state in states):
                        self._leave_batch(states, together)
                        together = None
                else:
                    progressed = False
                    for state in states:
                        if not state["done"]:
                            self._step(state, max_new_tokens)
                            progressed = True
            texts = [self._decode(state) for state in states]
            done = all(state["done"] for state in states)
            yield texts, done
            if done or not progressed:
                return

    def _can_batch(self, states: list[dict]) -> bool:
        """Several models, each once, prompts of one length, the finetuned ones
        attached as LLM adapters: peft then runs every row with its own adapter
        (or none, for the base) in one forward pass."""
        from peft import PeftModel

        models = [state["model"] for state in states]
        return (len(states) > 1 and len(set(models)) == len(models)
                and len({state["length"] for state in states}) == 1
                and isinstance(self.llm, PeftModel)
                and all(m == BASE or m in self.llm.peft_config for m in models)
                and any(m != BASE for m in models))

    def _step_together(self, states: list[dict], together: dict, max_new_tokens: int) -> bool:
        """One token for every model in one forward pass (none has ended:
        stream_many leaves the batch when one does)."""
        if not self._loaded:  # unload() ran between two tokens
            raise ChatError(UNLOADED)
        torch = self.torch
        adapters = ["__base__" if state["model"] == BASE else state["model"] for state in states]
        with torch.inference_mode():
            self._adapters.for_batch(self.llm)
            if together["past"] is None:
                embeds = torch.cat([state["inputs"]["inputs_embeds"] for state in states])
                out = self.llm(inputs_embeds=embeds, use_cache=True, adapter_names=adapters)
            else:
                last = torch.tensor([[state["ids"][-1]] for state in states],
                                    device=self.device)
                position = torch.full((len(states), 1),
                                      states[0]["length"] + together["rounds"] - 1,
                                      device=self.device)
                out = self.llm(input_ids=last, past_key_values=together["past"],
                               position_ids=position, use_cache=True, adapter_names=adapters)
            together["past"] = out.past_key_values
            tokens = out.logits[:, -1].argmax(-1).tolist()
        together["rounds"] += 1
        for state, token in zip(states, tokens):
            self._take(state, int(token), max_new_tokens)
        return True

    @staticmethod
    def _leave_batch(states: list[dict], together: dict) -> None:
        """Once one answer has ended, the others go on alone, each with its
        own rows of the batch's KV cache: a finished row would otherwise be
        fed in every pass, and the base model alone runs without peft's
        per-row adapter path (the base answer is often the long one)."""
        for row, state in enumerate(states):
            if not state["done"]:
                state["past"] = cache_row(together["past"], row)

    def _start(self, dialogue: Dialogue, question: str) -> dict:
        from PIL import Image
        from xtuner.dataset.utils import expand2square
        from xtuner.model.utils import prepare_inputs_labels_for_multimodal

        torch = self.torch
        with self._lock, torch.inference_mode():
            if not self._loaded:
                raise ChatError(UNLOADED)
            projector = self._select(dialogue.model)
            image = Image.open(dialogue.image).convert("RGB")
            image = expand2square(image, tuple(int(x * 255) for x in self.image_processor.image_mean))
            pixels = self.image_processor.preprocess(image, return_tensors="pt")["pixel_values"]
            pixels = pixels.to(self.device, dtype=self.base_projector.dtype)
            hidden = self.visual_encoder(pixels, output_hidden_states=True).hidden_states[-2]
            image_embeds = projector(hidden[:, 1:])
            ids = torch.tensor([self._prompt_ids(dialogue, question)], device=self.device)
            inputs = prepare_inputs_labels_for_multimodal(
                llm=self.llm, input_ids=ids, pixel_values=image_embeds)
        return {"model": dialogue.model, "inputs": inputs, "past": None, "ids": [],
                "done": False, "length": inputs["inputs_embeds"].shape[1]}

    def _step(self, state: dict, max_new_tokens: int) -> None:
        if not self._loaded:  # unload() ran between two tokens
            raise ChatError(UNLOADED)
        torch = self.torch
        with torch.inference_mode():
            if state["model"] == BASE:
                llm = self._adapters.bare(self.llm)
            else:
                self._select(state["model"])
                llm = self.llm
            if state["past"] is None:
                out = llm(inputs_embeds=state["inputs"]["inputs_embeds"], use_cache=True)
            else:
                last = torch.tensor([[state["ids"][-1]]], device=self.device)
                position = torch.tensor([[state["length"] + len(state["ids"]) - 1]],
                                        device=self.device)
                out = llm(input_ids=last, past_key_values=state["past"],
                          position_ids=position, use_cache=True)
            state["past"] = out.past_key_values
            token = int(out.logits[0, -1].argmax())
        self._take(state, token, max_new_tokens)

    def _take(self, state: dict, token: int, max_new_tokens: int) -> None:
        """A model's next token: the end of its answer, or one more token."""
        if token in (self.im_end_id, self.tokenizer.eos_token_id):
            state["done"] = True
            return
        state["ids"].append(token)
        if len(state["ids"]) >= max_new_tokens:
            state["done"] = True

    def _decode(self, state: dict) -> str:
        # A character split across tokens waits for its last byte; bytes that
        # form none are dropped (backend/models/readable_text.py).
        return readable(self.tokenizer.decode(state["ids"], skip_special_tokens=True),
                        finished=state["done"])
