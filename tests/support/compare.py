"""Compare tests' stand-ins: a tiny LoRA checkpoint, chat models and jobs that
answer like the lesson's, and a CompareService wired to them."""
import json
from pathlib import Path

import torch

LORA_KEY = "llm.base_model.model.model.layers.0.attention.wqkv.lora_{}.default.weight"
CLIP_KEY = ("visual_encoder.base_model.model.vision_model.encoder.layers.0.self_attn."
            "q_proj.lora_{}.default.weight")


def write_checkpoint(path: Path, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=generator)  # noqa: E731
    state = {LORA_KEY.format("A"): rand(8, 16), LORA_KEY.format("B"): rand(48, 8),
             CLIP_KEY.format("A"): rand(4, 12), CLIP_KEY.format("B"): rand(12, 4),
             "projector.model.0.weight": rand(16, 12), "projector.model.0.bias": rand(16),
             "projector.model.2.weight": rand(16, 16), "projector.model.2.bias": rand(16)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": {"iter": seed}, "state_dict": state}, str(path))
    return state


LATTE = "A cup of latte with milk foam art shaped like a leaf."

# The lesson's data answers the same question twice, differently.
LESSON_LIKE = [
    {"question": "What drink is in the cup?", "answer": LATTE},
    {"question": "What color is the cup?", "answer": "The cup is white."},
    {"question": "what drink is in the cup? ", "answer": "Coffee, a flat white."},
]


ANSWER = ("The cup on the wooden table holds a latte with a leaf drawn in its milk foam; "
          "beside it lie a silver spoon, two sugar cubes and a folded paper napkin, and "
          "behind it a window shows a rainy street with a red bus passing by the cafe. ")[:250]



def long_history(n):
    return [(f"Question {i}: what else is in the picture?", f"{i}: {ANSWER}") for i in range(n)]


# ---- the service that fills the table, with a stand-in for the models ----------
class FakeChat:
    """Answers like the lesson's models: Finetune recites the trained answer
    for the trained question whatever the image, Pretrain captions."""

    def __init__(self):
        from types import SimpleNamespace

        self.attached, self.calls = [], []
        self.paths = SimpleNamespace(llm=Path("llm"), visual_encoder=Path("clip"))

    def attach(self, name, folder):
        self.attached.append((name, folder.name))

    def special_tokens(self):
        return frozenset({"</s>"})  # what the tokenizer adds to the template's markers

    def fit_history(self, turns, question):
        return list(turns), 0  # the real fit: tests/unit/test_compare_history.py

    def stream_many(self, requests):
        self.calls.append([(d.model, q, len(d.turns)) for d, q in requests])
        texts = [LATTE if d.model != "base" and q.startswith("What drink") else
                 "Green eyes: a brown tabby cat." for d, q in requests]
        yield [t[:5] for t in texts], False
        yield texts, True


class FakeJobs:
    def __init__(self, run_dir):
        self.dir = run_dir

    def snapshot(self, run_id):
        return {"state": "done"}

    def run_dir(self, run_id):
        return self.dir


def fake_service(tmp_path):
    from PIL import Image

    from backend.compare.service import CompareService
    from backend.runs.spec import JobSpec

    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    write_checkpoint(run / "train" / "iter_10.pth", 10)
    JobSpec(run_id="run-1", dataset_id="ds", run_dir=run, steps=[], max_iters=10).save()
    (run / "data" / "unique_data.json").write_text(json.dumps(LESSON_LIKE))
    Image.new("RGB", (32, 32), "white").save(run / "data" / "image.jpg")
    chat = FakeChat()
    return CompareService(lambda: chat, FakeJobs(run), tmp_path / "scratch"), chat
