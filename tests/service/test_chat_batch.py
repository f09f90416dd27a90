"""Compare's two answers in one forward pass (ChatModels._step_together): the
demo models on the CPU, the base and a run attached from an iter_N.pth with
random LoRA weights. Batched, each row gets exactly what it gets alone."""
import json

import pytest
import torch

from backend.compare.adapters import write_adapters
from backend.models.chat import BASE, ChatModels, Dialogue
from backend.models.paths import ModelPaths
from tests.support.demo_models import ensure_shared_demo_models
from tests.support.images import make_star_image

pytestmark = [pytest.mark.slow, pytest.mark.processes]  # the demo models (built if missing)


def random_run_checkpoint(path, llm_dir, clip_dir):
    llm = json.loads((llm_dir / "config.json").read_text())
    clip = json.loads((clip_dir / "config.json").read_text())
    clip = clip.get("vision_config", clip)
    hidden, heads, kv = llm["hidden_size"], llm["num_attention_heads"], llm["num_key_value_heads"]
    qkv = hidden + 2 * kv * (hidden // heads)
    g = torch.Generator().manual_seed(7)
    state = {}
    for layer in range(llm["num_hidden_layers"]):
        key = f"llm.base_model.model.model.layers.{layer}.attention.wqkv.lora_{{}}.default.weight"
        state[key.format("A")] = torch.randn(8, hidden, generator=g) * 0.1
        state[key.format("B")] = torch.randn(qkv, 8, generator=g) * 0.1
    state.update({"projector.model.0.weight": torch.randn(hidden, clip["hidden_size"], generator=g) * 0.05,
                  "projector.model.0.bias": torch.zeros(hidden),
                  "projector.model.2.weight": torch.randn(hidden, hidden, generator=g) * 0.05,
                  "projector.model.2.bias": torch.zeros(hidden)})
    torch.save({"meta": {}, "state_dict": state}, str(path))
    return path


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    demo = ensure_shared_demo_models() / "demo"
    folder = tmp_path_factory.mktemp("batch")
    ckpt = random_run_checkpoint(folder / "iter_9.pth", demo / "llm", demo / "clip")
    hf = write_adapters(ckpt, folder / "hf", llm_path=demo / "llm",
                        visual_encoder_path=demo / "clip", llm_lora_alpha=16,
                        visual_lora_alpha=16)
    models = ChatModels(ModelPaths(demo / "llm", demo / "clip",
                                   demo / "pretrain" / "iter_2181.pth"))
    models.attach("run", hf)
    image = str(make_star_image(folder / "star.png"))
    return models, image, hf


def answers(models, requests, max_new_tokens=24):
    for texts, _done in models.stream_many(requests, max_new_tokens):
        pass
    return texts


def test_both_answers_in_one_batch_are_what_each_model_answers_alone(chat, monkeypatch):
    models, image, _hf = chat
    question = "What is in the picture?"
    alone = [answers(models, [(Dialogue(m, image), question)])[0] for m in (BASE, "run")]
    assert alone[0] != alone[1]  # the adapter changes the answer
    batched_calls = []
    real = models._step_together
    monkeypatch.setattr(models, "_step_together",
                        lambda *a: batched_calls.append(1) or real(*a))
    together = answers(models, [(Dialogue(BASE, image), question),
                                (Dialogue("run", image), question)])
    assert batched_calls, "one prompt length, two models: the batched path"
    assert together == alone
    # Afterwards one model alone answers as before (adapters left as they should be).
    assert answers(models, [(Dialogue("run", image), question)])[0] == alone[1]
    assert answers(models, [(Dialogue(BASE, image), question)])[0] == alone[0]


def test_prompts_of_different_lengths_are_stepped_in_turn(chat, monkeypatch):
    models, image, _hf = chat
    monkeypatch.setattr(models, "_step_together",
                        lambda *a: pytest.fail("different lengths cannot share a batch"))
    history = [("What is it?", "A star.")]
    texts = answers(models, [(Dialogue(BASE, image, history), "And its colour?"),
                             (Dialogue("run", image), "And its colour?")])
    assert len(texts) == 2


def test_attached_lora_weights_are_exactly_the_saved_ones(chat, tmp_path):
    """Attaching makes empty LoRA layers and takes the saved weights as they are
    (low_cpu_mem_usage): none left empty (meta) or random, on the model's device,
    for the first adapter (PeftModel.from_pretrained) and a later one (load_adapter)."""
    from safetensors.torch import load_file

    models, _image, hf = chat
    models.attach("again", hf)
    try:
        saved = load_file(str(hf / "llm_adapter" / "adapter_model.safetensors"))
        params = dict(models.llm.named_parameters())
        assert not [name for name, p in params.items() if p.is_meta]
        device = next(models.llm.base_model.model.parameters()).device
        for adapter in ("run", "again"):
            for key, value in saved.items():
                name = key.replace(".weight", f".{adapter}.weight")
                assert params[name].device == device
                assert torch.equal(params[name].detach().to(value.dtype), value), name
    finally:
        models._detach("again")



def token_ids(models, requests, max_new_tokens=24):
    """Each request's answer as token ids (read off ChatModels._take)."""
    taken = []
    real = models._take

    def record(state, token, limit):
        real(state, token, limit)
        taken.append((state["model"], token))

    models._take = record
    try:
        answers(models, requests, max_new_tokens)
    finally:
        del models._take
    return [[t for m, t in taken if m == dialogue.model] for dialogue, _q in requests]


def test_once_one_answer_ends_the_other_goes_on_alone(chat, monkeypatch):
    """The batch lasts until the first answer ends; the other then steps
    alone (the base without adapters) from its own rows of the batch's KV
    cache, and still says exactly what it says alone."""
    models, image, _hf = chat
    question = "What is in the picture?"
    base_ids, run_ids = (token_ids(models, [(Dialogue(m, image), question)])[0]
                         for m in (BASE, "run"))
    # Make one of the run's tokens its end of answer: a token the base never says.
    ends_at = next(i for i, token in enumerate(run_ids) if i >= 2 and token not in base_ids)
    monkeypatch.setattr(models, "im_end_id", run_ids[ends_at])
    alone = [answers(models, [(Dialogue(m, image), question)])[0] for m in (BASE, "run")]
    base_ids = token_ids(models, [(Dialogue(BASE, image), question)])[0]
    assert len(base_ids) > ends_at + 1  # the base is still going when the run ends
    batched, single = [], []
    real_together, real_step = models._step_together, models._step
    monkeypatch.setattr(models, "_step_together",
                        lambda *a: batched.append(1) or real_together(*a))
    monkeypatch.setattr(models, "_step",
                        lambda state, *a: single.append(state["model"]) or real_step(state, *a))
    together = answers(models, [(Dialogue(BASE, image), question),
                                (Dialogue("run", image), question)])
    assert together == alone
    assert len(batched) == ends_at + 1  # the prompt, then one pass per token until the end
    assert single and set(single) == {BASE}
    # The base's every token came from one pass: the batch's, then its own
    # (the pass that ends an answer has no token of it).
    assert len(batched) + len(single) == min(len(base_ids) + 1, 24)


def test_the_base_model_steps_without_lora_layers_and_switches_adapters_once(chat, monkeypatch):
    """The base's tokens come from the bare LLM (no LoRA layer in its forward
    pass) and peft walks the models at most once for the whole answer; the
    answer is what peft's disabled adapters give, and the run's adapter is
    back for the next question."""
    from peft.tuners.lora import Linear as LoraLinear
    from backend.models.adapter_switch import AdapterSwitch

    models, image, _hf = chat
    question = "What is in the picture?"
    # Through peft, adapters disabled (the way before the bare LLM).
    monkeypatch.setattr(AdapterSwitch, "bare",
                        lambda self, llm: self.select(llm, None, BASE) or llm)
    through_peft = answers(models, [(Dialogue(BASE, image), question)])[0]
    monkeypatch.undo()
    run_alone = answers(models, [(Dialogue("run", image), question)])[0]
    calls = {"lora": 0, "walks": 0}
    real_forward = LoraLinear.forward
    monkeypatch.setattr(LoraLinear, "forward", lambda self, *a, **k: calls.update(
        lora=calls["lora"] + 1) or real_forward(self, *a, **k))
    tuner = type(models.llm.base_model)
    real_walk = tuner._set_adapter_layers
    monkeypatch.setattr(tuner, "_set_adapter_layers", lambda self, enabled=True: calls.update(
        walks=calls["walks"] + 1) or real_walk(self, enabled))
    assert answers(models, [(Dialogue(BASE, image), question)])[0] == through_peft
    assert calls == {"lora": 0, "walks": 1}
    assert answers(models, [(Dialogue("run", image), question)])[0] == run_alone
    assert calls["lora"] > 0
