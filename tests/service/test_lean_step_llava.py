"""The fast recipe's leaner step on xtuner's own LLaVAModel (InternLM2 code,
CLIP, the pretrain projector: the demo models), built from the config the app
renders for the fast recipe, one step on the CPU under bf16 autocast as on a
GPU: frozen Linear weights stored in bf16 change no number of the step."""
import copy

import pytest
import torch

from backend.xtuner.recipes import FAST
from backend.xtuner.trainer_side.lean_step import cast_frozen_weights
from tests.support.cuda_configs import cuda_config, load
from tests.support.demo_models import ensure_shared_demo_models

pytestmark = [pytest.mark.slow, pytest.mark.processes]  # the demo models (built if missing)


def fast_llava(tmp_path):
    import dataclasses

    from xtuner.registry import BUILDER

    import backend.xtuner.trainer_side.patches  # noqa: F401  (as in the trainer)

    demo = ensure_shared_demo_models() / "demo"
    config = dataclasses.replace(cuda_config(tmp_path, FAST), llm_path=demo / "llm",
                                 visual_encoder_path=demo / "clip",
                                 pretrained_pth=demo / "pretrain" / "iter_2181.pth")
    model_cfg = load(tmp_path, config).model
    assert model_cfg.visual_encoder_lora is None and model_cfg.llm_lora.lora_dropout == 0.0
    torch.manual_seed(0)
    model = BUILDER.build(model_cfg)
    for name, param in model.named_parameters():  # peft starts B at 0: no gradient for A
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    return model


def step(model, batch):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(copy.deepcopy(batch), mode="loss")["loss"]
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()
                         if p.requires_grad and p.grad is not None}


def test_frozen_linear_weights_in_bf16_leave_the_llava_step_bit_for_bit(tmp_path):
    from xtuner.utils import IMAGE_TOKEN_INDEX

    model = fast_llava(tmp_path)
    size = model.visual_encoder.config.image_size
    ids = torch.tensor([[1, 5, IMAGE_TOKEN_INDEX, 7, 8, 9, 10, 11]])
    labels = torch.tensor([[-100, -100, -100, -100, 8, 9, 10, 11]])
    batch = {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids),
             "position_ids": torch.arange(ids.shape[1])[None],
             "pixel_values": torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))}
    before_loss, before_grads = step(model, batch)
    assert before_grads and all(g.abs().max() > 0 for g in before_grads.values())
    assert cast_frozen_weights(model, torch.bfloat16) > 0
    frozen = {n: p.dtype for n, p in model.named_parameters() if not p.requires_grad}
    assert torch.bfloat16 in frozen.values() and torch.float32 in frozen.values()  # norms stay
    loss, grads = step(model, batch)
    assert loss == before_loss
    assert grads.keys() == before_grads.keys()
    for name, grad in before_grads.items():
        assert torch.equal(grads[name], grad), name
