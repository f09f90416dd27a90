"""The fast recipe's leaner step (backend/xtuner/trainer_side/lean_step.py), on
the CPU under bf16 autocast as the recipe trains on a GPU: a tiny Llama with
LoRA on every linear layer (as xtuner puts it on InternLM2), checked against
the same model in fp32 without autocast."""
import copy

import pytest
import torch

from backend.xtuner.trainer_side.lean_step import cast_frozen_weights, fuse_lora_layers

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_llama(dropout: float = 0.0):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=256)
    model = get_peft_model(LlamaForCausalLM(config),
                           LoraConfig(r=8, lora_alpha=16, lora_dropout=dropout,
                                      target_modules=TARGETS))
    for name, param in model.named_parameters():  # peft starts B at 0: no gradient for A
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)
    return model


IDS = torch.randint(0, 256, (1, 24), generator=torch.Generator().manual_seed(1))


def loss_and_grads(model, autocast: bool):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = model(input_ids=IDS, labels=IDS).loss
    loss.backward()
    grads = {n: p.grad.float() for n, p in model.named_parameters() if p.requires_grad}
    return loss.item(), grads


def error(grads, reference) -> float:
    """Largest gradient error relative to the reference's scale."""
    return max(float((grads[n] - g).abs().max() / g.abs().max()) for n, g in reference.items())


def test_the_one_node_lora_layer_is_as_close_to_fp32_as_peft_own_bf16_path():
    reference_model = lora_llama()
    peft_model, fused_model = copy.deepcopy(reference_model), copy.deepcopy(reference_model)
    assert fuse_lora_layers(fused_model) == 2 * len(TARGETS)
    ref_loss, ref_grads = loss_and_grads(reference_model, autocast=False)
    peft_loss, peft_grads = loss_and_grads(peft_model, autocast=True)
    fused_loss, fused_grads = loss_and_grads(fused_model, autocast=True)
    assert len(ref_grads) == 4 * len(TARGETS)  # A and B of every layer
    assert all(g.abs().max() > 0 for g in fused_grads.values())
    assert fused_loss == pytest.approx(ref_loss, rel=2e-2)
    assert abs(fused_loss - ref_loss) <= 2 * abs(peft_loss - ref_loss) + 1e-3
    assert error(fused_grads, ref_grads) <= 2 * error(peft_grads, ref_grads) + 1e-3
    assert error(fused_grads, ref_grads) < 0.1
    for param in fused_model.parameters():  # Adam keeps working on fp32 adapters
        assert param.grad is None or param.grad.dtype == torch.float32


def test_layers_the_fused_node_does_not_cover_keep_peft_forward():
    """Outside autocast, and with LoRA dropout, a fused model computes exactly
    what peft's does (its own forward runs)."""
    plain = lora_llama()
    fused = copy.deepcopy(plain)
    fuse_lora_layers(fused)
    assert loss_and_grads(fused, autocast=False)[0] == loss_and_grads(plain, autocast=False)[0]
    dropped = lora_llama(dropout=0.1)
    fused_dropped = copy.deepcopy(dropped)
    fuse_lora_layers(fused_dropped)
    torch.manual_seed(3)
    expected = loss_and_grads(dropped, autocast=True)[0]
    torch.manual_seed(3)
    assert loss_and_grads(fused_dropped, autocast=True)[0] == expected


def test_frozen_weights_in_bf16_train_the_adapters_as_before():
    model = lora_llama()
    ref_loss, ref_grads = loss_and_grads(copy.deepcopy(model), autocast=False)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert cast_frozen_weights(model, torch.bfloat16) == 2 * frozen
    for name, param in model.named_parameters():
        assert param.dtype == (torch.float32 if param.requires_grad else torch.bfloat16), name
    assert cast_frozen_weights(model, torch.bfloat16) == 0  # once is enough
    fuse_lora_layers(model)
    loss, grads = loss_and_grads(model, autocast=True)
    assert loss == pytest.approx(ref_loss, rel=2e-2)
    assert error(grads, ref_grads) < 0.1


def test_the_recipe_flags_render_the_hooks_and_a_disabled_loss_scaler(tmp_path):
    import dataclasses

    from mmengine.registry import HOOKS

    from backend.xtuner.recipes import FAST
    from tests.support.cuda_configs import cuda_config, load

    lean = dataclasses.replace(FAST, frozen_in_amp_dtype=True, loss_scaler=False,
                               fused_lora=True)
    cfg = load(tmp_path, cuda_config(tmp_path, lean))
    hooks = {h.type.__name__: h for h in cfg.custom_hooks if isinstance(h.type, type)}
    assert hooks["FrozenWeightsHook"].dtype == "bfloat16" and "FusedLoraHook" in hooks
    built = HOOKS.build(dict(hooks["FrozenWeightsHook"]))
    assert built.dtype is torch.bfloat16
    assert cfg.optim_wrapper.loss_scale == {"enabled": False}
    assert torch.amp.GradScaler("cpu", **cfg.optim_wrapper.loss_scale).is_enabled() is False
    plain = load(tmp_path, cuda_config(tmp_path, dataclasses.replace(
        FAST, frozen_in_amp_dtype=False, loss_scaler=True, fused_lora=False)))
    assert plain.optim_wrapper.loss_scale == "dynamic"  # the built-in config's
    assert not any("lean_step" in str(h.type) for h in plain.custom_hooks)
