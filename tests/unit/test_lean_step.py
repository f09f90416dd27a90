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


def test_frozen_matmul_weights_in_bf16_compute_bit_for_bit_what_autocast_did():
    """The fast recipe's step is unchanged by storing the frozen Linear
    weights in bf16: autocast casts exactly those to bf16 in every step, so the
    loss and every gradient are equal, not just close."""
    model = lora_llama()
    before_loss, before_grads = loss_and_grads(copy.deepcopy(model), autocast=True)
    linear = sum(m.weight.numel() for m in model.modules()
                 if isinstance(m, torch.nn.Linear) and not m.weight.requires_grad)
    assert cast_frozen_weights(model, torch.bfloat16) == 2 * linear
    for name, param in model.named_parameters():
        in_linear = name.endswith("base_layer.weight") or name.endswith("lm_head.weight")
        expected = torch.bfloat16 if in_linear else torch.float32  # norms, embeddings, LoRA
        assert param.dtype == expected, name
    assert cast_frozen_weights(model, torch.bfloat16) == 0  # once is enough
    loss, grads = loss_and_grads(model, autocast=True)
    assert loss == before_loss
    for name, grad in before_grads.items():
        assert torch.equal(grads[name], grad), name


def test_casting_norms_and_embeddings_too_would_change_the_step():
    """What the first whole-length run did (every frozen weight in bf16, so
    the residual stream too): the numbers differ, which is why only matmul
    weights are cast."""
    model = lora_llama()
    before_loss, _ = loss_and_grads(copy.deepcopy(model), autocast=True)
    for param in model.parameters():
        if not param.requires_grad:
            param.data = param.data.to(torch.bfloat16)
    assert loss_and_grads(model, autocast=True)[0] != before_loss


def test_a_bf16_step_without_the_grad_scaler_updates_the_weights_identically():
    """mmengine's dynamic GradScaler multiplies by a power of two and back:
    exact in bf16, which has fp32's range. Without it (the fast recipe) Adam
    makes the same updates."""
    if not hasattr(torch.amp, "GradScaler"):
        pytest.skip("torch.amp.GradScaler is torch >= 2.3")

    def train(scaler):
        model = lora_llama()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=1e-3)
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(input_ids=IDS, labels=IDS).loss
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            scaler.step(optimizer)
            scaler.update()
        return [p.detach().clone() for p in trainable]

    initial = [p.detach().clone() for p in lora_llama().parameters() if p.requires_grad]
    scaled = train(torch.amp.GradScaler("cpu", init_scale=2.0 ** 16))
    plain = train(torch.amp.GradScaler("cpu", enabled=False))
    assert all(torch.equal(a, b) for a, b in zip(scaled, plain))
    assert not all(torch.equal(a, b) for a, b in zip(scaled, initial))  # it trained


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
