"""Which adapters the resident LLM and CLIP run with (backend/models/chat.py).

The base model is the LLM without LoRA; a run is the LLM with its adapter.
peft's way to the base is to disable every LoRA layer, which leaves them all
in the forward pass; and each of peft's switches walks every module of both
models. Per token both cost as much as the rest of the step's Python does on
a 24-layer InternLM2 (bench/probes/chat_overhead.py), and a step on the GPU
is bound by that Python, not by the GPU. So:

- a step of the base model runs on the bare LLM: each LoRA layer swapped for
  the layer it wraps (the same weights), swapped back before anything else
  uses the model;
- peft's switches run only when the wanted adapters change.

Every call is made under ChatModels' lock.
"""
from __future__ import annotations

BASE = "base"


class AdapterSwitch:
    def __init__(self):
        self._selected: str | None = None  # whose adapters peft runs now; None: not known
        self._swapped: list[tuple] = []    # (parent, name, LoRA layer) while the LLM runs bare

    def forget(self) -> None:
        """The models were loaded, unloaded or given another adapter: whatever
        peft runs now is not known (call ``dress`` first where they live on)."""
        self._selected = None
        self._swapped = []

    def dress(self) -> None:
        """Every LoRA layer back in its place (before peft touches the model)."""
        for parent, name, layer in self._swapped:
            setattr(parent, name, layer)
        self._swapped = []

    def select(self, llm, visual_encoder, model: str) -> None:
        """peft's adapters for ``model`` in both models (none for the base)."""
        from peft import PeftModel

        self.dress()
        if self._selected == model:
            return
        for module in (llm, visual_encoder):
            if not isinstance(module, PeftModel):
                continue
            if model != BASE and model in module.peft_config:
                module.base_model.enable_adapter_layers()
                module.set_adapter(model)
            else:
                module.base_model.disable_adapter_layers()
        self._selected = model

    def for_batch(self, llm) -> None:
        """Every LoRA layer on: each row of a batch names its own adapter."""
        self.dress()
        llm.base_model.enable_adapter_layers()
        self._selected = None

    def bare(self, llm):
        """The LLM to step the base model with: ``llm`` itself when it has no
        adapters, else the model inside peft with its LoRA layers swapped out."""
        from peft import PeftModel
        from peft.tuners.lora import LoraLayer

        if not isinstance(llm, PeftModel):
            return llm
        inner = llm.base_model.model
        if not self._swapped:
            for name, module in list(inner.named_modules()):
                if isinstance(module, LoraLayer):
                    parent, _, child = name.rpartition(".")
                    self._swapped.append((inner.get_submodule(parent), child, module))
            for parent, child, layer in self._swapped:
                setattr(parent, child, layer.base_layer)
        return inner
