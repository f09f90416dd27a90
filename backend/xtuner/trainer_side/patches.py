"""Runtime fixes that xtuner 0.2.0 needs beside torch 2.14 / transformers 4.48.

Imported at start-up of every xtuner subprocess (backend/xtuner/trainer_side/site) and by
the chat service, so the fixes live in our code, not in installed packages.
Each fix is idempotent and only touches what is actually broken.
"""
from __future__ import annotations

import functools

import torch


def _fix_cpu_bf16_probe() -> None:
    # LLaVAModel asks get_torch_device().is_bf16_supported(); on CPU that is
    # torch.cpu, which has no such function in torch 2.14.
    if not hasattr(torch.cpu, "is_bf16_supported"):
        torch.cpu.is_bf16_supported = lambda *args, **kwargs: False


def _fixed_prepare_inputs(original):
    """Wrap InternLM2's prepare_inputs_for_generation.

    transformers 4.48 hands it an *empty* DynamicCache on the first step; the
    shipped code only uses ``inputs_embeds`` when the cache is None, so LLaVA
    generation (image embeddings, empty input_ids) breaks. Treat an empty
    cache like no cache on that first step.
    """

    @functools.wraps(original)
    def prepare(self, input_ids, past_key_values=None, attention_mask=None,
                inputs_embeds=None, **kwargs):
        cache = past_key_values
        empty = (
            cache is not None
            and inputs_embeds is not None
            and hasattr(cache, "get_seq_length")
            and cache.get_seq_length() == 0
        )
        if not empty:
            return original(self, input_ids, past_key_values=past_key_values,
                            attention_mask=attention_mask,
                            inputs_embeds=inputs_embeds, **kwargs)
        inputs = original(self, input_ids, past_key_values=None,
                          attention_mask=attention_mask,
                          inputs_embeds=inputs_embeds, **kwargs)
        inputs["past_key_values"] = cache
        return inputs

    prepare._studio_fixed = True
    return prepare


def fix_internlm2_class(cls):
    """Apply the generation fix to an InternLM2 causal-LM class (idempotent)."""
    method = getattr(cls, "prepare_inputs_for_generation", None)
    if method is not None and not getattr(method, "_studio_fixed", False):
        if cls.__name__.startswith("InternLM2"):
            cls.prepare_inputs_for_generation = _fixed_prepare_inputs(method)
    return cls


def _fix_remote_code_loading() -> None:
    # InternLM2 arrives through trust_remote_code, so its class only exists
    # after transformers loads it; fix it at that moment.
    from transformers.models.auto import auto_factory

    loader = auto_factory.get_class_from_dynamic_module
    if getattr(loader, "_studio_fixed", False):
        return

    @functools.wraps(loader)
    def load_and_fix(*args, **kwargs):
        return fix_internlm2_class(loader(*args, **kwargs))

    load_and_fix._studio_fixed = True
    auto_factory.get_class_from_dynamic_module = load_and_fix


def _cap_dataset_map_processes() -> None:
    # LLaVADataset hard-codes map_num_proc=32: on a 2-core machine datasets.map
    # forks 32 workers for a few hundred rows. STUDIO_MAP_NUM_PROC caps it.
    import os

    from xtuner.dataset import llava

    process = llava.process_hf_dataset
    if getattr(process, "_studio_fixed", False):
        return
    cap = int(os.environ.get("STUDIO_MAP_NUM_PROC", "1"))

    @functools.wraps(process)
    def capped(*args, **kwargs):
        kwargs["map_num_proc"] = min(cap, kwargs.get("map_num_proc", 32))
        return process(*args, **kwargs)

    capped._studio_fixed = True
    llava.process_hf_dataset = capped


def _quiet_bitsandbytes_on_cpu() -> None:
    # peft imports bitsandbytes whenever it is installed; without a GPU its
    # native library cannot load here (libstdc++ too old for the CPU build)
    # and it logs a long traceback into every run's log, which reads like a
    # failure to a student. Nothing on a CPU uses it; on a GPU the message
    # stays, because there it matters.
    import logging

    if not torch.cuda.is_available():
        logging.getLogger("bitsandbytes.cextension").setLevel(logging.CRITICAL)


def _stream_checkpoints_to_disk() -> None:
    # mmengine's save_checkpoint serialises the whole checkpoint into a BytesIO,
    # copies it out (getvalue) and only then writes it: three passes over the
    # 2-6.5 GB of a LoRA r=512 checkpoint at every save. A local file is
    # written as torch serialises it instead (the same content; a full disk
    # still raises OSError ENOSPC, as mmengine's write did). Remote back ends
    # (backend_args, "scheme://") keep mmengine's path.
    from pathlib import Path

    from mmengine.runner import checkpoint, runner

    original = checkpoint.save_checkpoint
    if getattr(original, "_studio_fixed", False):
        return

    @functools.wraps(original)
    def save(state, filename, file_client_args=None, backend_args=None):
        if file_client_args is not None or backend_args is not None or "://" in str(filename):
            return original(state, filename, file_client_args=file_client_args,
                            backend_args=backend_args)
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(filename, "wb") as file:
                torch.save(state, file)
        except RuntimeError as error:
            # After a failed write torch's zip writer fails again while closing
            # ("unexpected pos"); the write's own error is the one that says why.
            if isinstance(error.__context__, OSError):
                raise error.__context__ from None
            raise

    save._studio_fixed = True
    checkpoint.save_checkpoint = save
    runner.save_checkpoint = save  # the name Runner.save_checkpoint calls


def apply() -> None:
    """Apply every fix; safe to call more than once."""
    _quiet_bitsandbytes_on_cpu()
    _fix_cpu_bf16_probe()
    _fix_remote_code_loading()
    _cap_dataset_map_processes()
    _stream_checkpoints_to_disk()


apply()
