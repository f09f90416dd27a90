"""Fewer and cheaper operators in a batch-1 training step (the fast recipe).

A batch-1 step on an H200 is bound by the CPU dispatching operators, not by
the GPU (bench/RESULTS.md, profile). Two sources of operators that change no
result:

  * peft's prepare_model_for_kbit_training, which xtuner calls for every LoRA
    LLM, casts each frozen LLM weight to fp32; CLIP loads in fp32. Under bf16
    autocast every frozen matmul then casts its weight back to bf16 in every
    step, and keeps that copy for the backward pass (3 GiB on InternLM2-1.8B).
    ``FrozenWeightsHook`` stores the frozen matmul weights in the autocast
    dtype once: the matmuls see the same bf16 values, without the copies, and
    the step's numbers stay bit for bit what they were (tests/unit/
    test_lean_step.py, tests/service/test_lean_step_llava.py). Trainable
    weights (LoRA, projector) stay fp32 for Adam.
  * peft's LoRA Linear makes about a dozen autograd nodes per layer under
    autocast: the input cast to the adapter's fp32 and back, the casts of A and
    B, two matmuls, the scaling, the sum. ``FusedLoraHook`` gives each plain
    LoRA Linear one autograd node that computes the same thing (base matmul
    plus scaled B(A(x)), in the autocast dtype) with its gradients written out.
    Anything else (dropout, DoRA, several adapters, merged weights, no
    autocast) goes through peft's own forward.
"""
from __future__ import annotations

import types

import torch
from mmengine.hooks import Hook


def cast_frozen_weights(model: torch.nn.Module, dtype: torch.dtype) -> int:
    """Store the frozen weight of every ``nn.Linear`` in ``dtype``; return how
    many bytes that freed. Only matmul weights: autocast casts exactly those
    to ``dtype`` in every step anyway, so the step computes the same numbers
    without the copies. Norms and embeddings keep their dtype (fp32 after
    peft), and with them the fp32 residual stream: casting those too changes
    the numbers, and a whole-length run that did so reproduced fewer trained
    answers (bench/RESULTS.md). In place (``param.data``): the parameter
    objects, their names and the optimizer's references stay."""
    freed = 0
    for module in model.modules():
        param = getattr(module, "weight", None)
        if (not isinstance(module, torch.nn.Linear) or param is None or param.requires_grad
                or not param.is_floating_point() or param.dtype == dtype):
            continue
        before = param.element_size()
        param.data = param.data.to(dtype)
        freed += param.numel() * (before - param.element_size())
    return freed


class FrozenWeightsHook(Hook):
    """The frozen LLM and CLIP matmul weights in the autocast dtype (module docstring)."""

    priority = "VERY_HIGH"

    def __init__(self, dtype: str = "bfloat16"):
        self.dtype = getattr(torch, dtype)

    def before_train(self, runner):
        freed = cast_frozen_weights(runner.model, self.dtype)
        runner.logger.info(f"Frozen weights stored in {self.dtype}: "
                           f"{freed / 2**30:.2f} GiB freed")


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The autocast dtype in force for ``device_type``, None when off."""
    if not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


class _LoraLinear(torch.autograd.Function):
    """y = x W^T + s (x A^T) B^T in one autograd node, computed in ``dtype``
    (what autocast would pick); A and B receive their gradients in their own
    dtype (fp32), as through peft's casts."""

    @staticmethod
    def forward(ctx, x, weight, lora_a, lora_b, scaling, dtype):
        with torch.autocast(x.device.type, enabled=False):
            x2 = x.reshape(-1, x.shape[-1]).to(dtype)
            w, a, b = weight.to(dtype), lora_a.to(dtype), lora_b.to(dtype)
            h = torch.mm(x2, a.t())
            y = torch.addmm(torch.mm(x2, w.t()), h, b.t(), alpha=scaling)
        ctx.save_for_backward(x2, w, a, b, h)
        ctx.scaling, ctx.x_shape, ctx.x_dtype = scaling, x.shape, x.dtype
        ctx.a_dtype, ctx.b_dtype = lora_a.dtype, lora_b.dtype
        return y.view(*x.shape[:-1], y.shape[-1])

    @staticmethod
    def backward(ctx, grad):
        x2, w, a, b, h = ctx.saved_tensors
        grad_x = grad_a = grad_b = None
        with torch.autocast(grad.device.type, enabled=False):
            g = grad.reshape(-1, grad.shape[-1]).to(w.dtype)
            grad_h = torch.mm(g, b).mul_(ctx.scaling)
            if ctx.needs_input_grad[0]:
                grad_x = torch.addmm(torch.mm(g, w), grad_h, a)
                grad_x = grad_x.view(ctx.x_shape).to(ctx.x_dtype)
            if ctx.needs_input_grad[2]:
                grad_a = torch.mm(grad_h.t(), x2).to(ctx.a_dtype)
            if ctx.needs_input_grad[3]:
                grad_b = torch.mm(g.t(), h).mul_(ctx.scaling).to(ctx.b_dtype)
        return grad_x, None, grad_a, grad_b, None, None


def _plain_adapter(layer) -> str | None:
    """The one active adapter of a peft LoRA Linear when its forward is
    exactly base + scaled B(A(x)); None otherwise."""
    if layer.disable_adapters or layer.merged or layer.fan_in_fan_out:
        return None
    if len(layer.active_adapters) != 1:
        return None
    name = layer.active_adapters[0]
    if name not in layer.lora_A or layer.use_dora.get(name):
        return None
    if not isinstance(layer.lora_dropout[name], torch.nn.Identity):
        return None
    base = layer.base_layer
    if (type(base) is not torch.nn.Linear or base.bias is not None
            or layer.lora_B[name].bias is not None):
        return None
    return name


def _fused_forward(self, x, *args, **kwargs):
    dtype = _autocast_dtype(x.device.type)
    name = None if (args or kwargs or dtype is None) else _plain_adapter(self)
    if name is None:
        return type(self).forward(self, x, *args, **kwargs)
    return _LoraLinear.apply(x, self.base_layer.weight, self.lora_A[name].weight,
                             self.lora_B[name].weight, self.scaling[name], dtype)


def fuse_lora_layers(model: torch.nn.Module) -> int:
    """Give every peft LoRA Linear of ``model`` the one-node forward (on the
    instance: other models in the process keep peft's); return how many."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    count = 0
    for module in model.modules():
        if type(module) is LoraLinear:
            module.forward = types.MethodType(_fused_forward, module)
            count += 1
    return count


class FusedLoraHook(Hook):
    """One autograd node per LoRA layer (module docstring)."""

    priority = "VERY_HIGH"

    def before_train(self, runner):
        count = fuse_lora_layers(runner.model)
        runner.logger.info(f"LoRA layers with a one-node forward: {count}")
