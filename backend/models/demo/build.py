"""The embedded demo profile: tiny stand-ins for the lesson's three models.

When InternLM2-Chat-1.8B, CLIP ViT-L/14-336 and iter_2181.pth are absent, the
app builds small look-alikes once, offline, on CPU, and caches them:
  llm/       tiny InternLM2 (the real remote code) + byte-level BPE tokenizer,
             warmed up to answer any chat question with a caption-like sentence
  clip/      tiny CLIPVisionModel + CLIPImageProcessor (random weights: the
             projector learns to read whatever features it gives)
  pretrain/  iter_2181.pth from a REAL xtuner LLaVA pretrain run on photos
"""
from __future__ import annotations

import fcntl
import json
import random
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

from backend.models.demo.pretrain import (DEMO_IMAGES, QUESTIONS, DemoPretrainError,
                                   render_pretrain_config, run_pretrain, write_pretrain_data)
from backend.models.demo.tokenizer import build_tokenizer, check_tokenizer
from backend.models.demo.internlm2_folder import write_internlm2_config
from backend.models.paths import ModelPaths

# Bump whenever anything below changes what gets built: old caches rebuild.
BUILD_VERSION = 1
MANIFEST = "demo_manifest.json"
Progress = Callable[[float, str], None]

LLM_SIZE = dict(hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=512)
CLIP_SIZE = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                 num_attention_heads=4, image_size=56, patch_size=14, projection_dim=128)
WARMUP = dict(steps=160, batch_size=32, lr=3e-3, seed=0)

# Extra questions seen only in the warm-up, so the LLM ignores *any* question.
WARMUP_QUESTIONS = QUESTIONS + [
    "What is this?", "Can you explain the picture?", "What is happening here?",
    "Who is in the photo?", "What time of day is it?", "What is the weather like?",
    "Is there an animal?", "What is on the table?", "How old is this?",
    "What would you call this?", "Summarize the image in one sentence.",
    "这张图片讲了什么？", "图中的人在做什么？", "你看到了什么？", "hello", "你好",
    "What is the main object?", "What are the colors of the bus in the image?",
    "Where is the cat positioned in the image?", "What feature can be seen on the back?",
]

__all__ = ["ModelPaths", "DemoPretrainError", "ensure_demo_models"]


def build_llm(folder: Path):
    """Tokenizer + randomly initialised tiny InternLM2, loadable like the real one."""
    from transformers import AutoModelForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    corpus = [c for _, _, c in DEMO_IMAGES] + [t for _, t, _ in DEMO_IMAGES] + WARMUP_QUESTIONS
    corpus += ["<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>system\n"]
    tokenizer = build_tokenizer(folder, corpus * 4)
    check_tokenizer(tokenizer)
    # The real checkpoint's remote code, so trust_remote_code loading is identical.
    cfg = write_internlm2_config(folder, tokenizer, LLM_SIZE, vocab_size=len(tokenizer),
                                 rope_theta=10000, rms_norm_eps=1e-6, torch_dtype="float32")
    model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=True)
    return tokenizer, model


def _warmup_example(tokenizer, rng: random.Random):
    # Same token layout as xtuner's encode_fn with the internlm2_chat template:
    # <s> INSTRUCTION(no loss) caption<|im_end|>(loss) "\n"(no loss). The image
    # slot (where LLaVA splices the projected patches) holds the topic word.
    topic_index = rng.randrange(len(DEMO_IMAGES))
    _, topic, caption = DEMO_IMAGES[topic_index]
    question = rng.choice(WARMUP_QUESTIONS)
    head = tokenizer.encode("<|im_start|>user\n")  # with <s>
    tail = tokenizer.encode(f"\n{question}<|im_end|>\n<|im_start|>assistant\n",
                            add_special_tokens=False)
    answer = tokenizer.encode(caption + "<|im_end|>", add_special_tokens=False)
    sep = tokenizer.encode("\n", add_special_tokens=False)
    topic_ids = tokenizer.encode(topic, add_special_tokens=False)
    return dict(head=head, topic=topic_ids, topic_index=topic_index, tail=tail,
                answer=answer + sep, n_loss=len(answer))


def _soft_slot(embed, tokenizer, example, rng: random.Random):
    """Image-slot embeddings for one example.

    Half the time the plain topic word; otherwise as many vectors as CLIP has
    patches, each a noisy blend of the topic and another topic. The projector
    will feed the LLM such soft vectors, and an unseen photo lands "between"
    topics: training on blends makes the LLM commit to one clean caption
    instead of stitching captions together.
    """
    import torch

    ids = torch.tensor(example["topic"])
    topic = embed(ids).mean(0)
    if rng.random() < 0.5:
        return embed(ids)
    other_ids = tokenizer.encode(rng.choice(DEMO_IMAGES)[1], add_special_tokens=False)
    other = embed(torch.tensor(other_ids)).mean(0)
    n = (CLIP_SIZE["image_size"] // CLIP_SIZE["patch_size"]) ** 2
    alpha = torch.empty(n, 1).uniform_(0.55, 1.0)
    noise = torch.randn(n, topic.numel()) * topic.std() * rng.uniform(0.0, 1.0)
    return alpha * topic + (1 - alpha) * other + noise


def _warmup_batch(model, tokenizer, rng: random.Random, size: int):
    import torch

    embed = model.get_input_embeddings()
    rows, labels = [], []
    for _ in range(size):
        ex = _warmup_example(tokenizer, rng)
        slot = _soft_slot(embed, tokenizer, ex, rng)
        ids_after = torch.tensor(ex["tail"] + ex["answer"])
        rows.append(torch.cat([embed(torch.tensor(ex["head"])), slot, embed(ids_after)]))
        n_prompt = len(ex["head"]) + len(slot) + len(ex["tail"])
        loss_part = ex["answer"][:ex["n_loss"]]
        labels.append([-100] * n_prompt + loss_part + [-100] * (len(ex["answer"]) - ex["n_loss"]))
    width = max(len(r) for r in rows)
    mask = torch.zeros(size, width, dtype=torch.long)
    padded = torch.zeros(size, width, rows[0].shape[1])
    for i, r in enumerate(rows):
        padded[i, :len(r)], mask[i, :len(r)] = r, 1
    target = torch.tensor([l + [-100] * (width - len(l)) for l in labels])
    return padded, mask, target


def warm_up_llm(model, tokenizer, progress: Progress, start: float, span: float) -> float:
    """Teach the tiny LLM to answer every chat question with a caption (its "pretraining")."""
    import torch

    cfg = WARMUP
    rng = random.Random(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=cfg["steps"],
                                                pct_start=0.1)
    model.train()
    loss = float("nan")
    for step in range(cfg["steps"]):
        embeds, mask, labels = _warmup_batch(model, tokenizer, rng, cfg["batch_size"])
        out = model(inputs_embeds=embeds, attention_mask=mask, labels=labels, use_cache=False)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss = out.loss.item()
        if step % 20 == 0:
            progress(start + span * step / cfg["steps"], f"LLM warm-up {step}/{cfg['steps']}, loss {loss:.3f}")
    model.eval()
    return loss


def build_clip(folder: Path) -> None:
    """A tiny random CLIP vision tower (>= 2 layers: LLaVA reads layer -2)."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(1)
    CLIPVisionModel(CLIPVisionConfig(**CLIP_SIZE)).save_pretrained(str(folder))
    size = CLIP_SIZE["image_size"]
    CLIPImageProcessor(size={"shortest_edge": size},
                       crop_size={"height": size, "width": size}).save_pretrained(str(folder))


def _paths(root: Path) -> ModelPaths:
    return ModelPaths(llm=root / "llm", visual_encoder=root / "clip",
                      pretrained_pth=root / "pretrain" / "iter_2181.pth")


def _cached(root: Path) -> bool:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    paths = _paths(root)
    return (manifest.get("build_version") == BUILD_VERSION and paths.pretrained_pth.is_file()
            and (paths.llm / "config.json").is_file() and (paths.visual_encoder / "config.json").is_file())


def _build(root: Path, progress: Progress) -> dict:
    import torch

    started = time.monotonic()
    paths = _paths(root)
    # A half-finished build leaves no manifest: start from scratch.
    for stale in ("llm", "clip", "pretrain", "build", MANIFEST):
        target = root / stale
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    build = root / "build"
    build.mkdir(parents=True)

    progress(0.01, "Training the demo tokenizer")
    tokenizer, model = build_llm(paths.llm)
    progress(0.04, "Warming up the tiny InternLM2 (it learns to answer with captions)")
    loss = warm_up_llm(model, tokenizer, progress, 0.04, 0.46)
    model.save_pretrained(str(paths.llm))
    del model
    progress(0.51, "Building the tiny CLIP vision tower")
    build_clip(paths.visual_encoder)

    progress(0.53, "Writing captioned photos and the xtuner pretrain config")
    data = write_pretrain_data(build / "data")
    config = render_pretrain_config(build / "pretrain_config.py", paths.llm, paths.visual_encoder,
                                    data, build / "data" / "images" / "astronaut_pad.jpg")
    progress(0.56, "Running xtuner's LLaVA pretrain stage")

    def on_iter(done: int, total: int) -> None:
        progress(0.56 + 0.42 * done / max(total, 1), f"xtuner pretrain: iter {done}/{total}")

    checkpoint = run_pretrain(config, build / "work_dir", build / "pretrain.log", on_progress=on_iter)
    paths.pretrained_pth.parent.mkdir(parents=True)
    # Stable name: the demo's stand-in for the lesson's iter_2181.pth.
    shutil.copy(checkpoint, paths.pretrained_pth)
    checkpoint.unlink(missing_ok=True)  # keep one copy only
    return dict(build_version=BUILD_VERSION, built_at=time.strftime("%Y-%m-%d %H:%M:%S"),
                build_seconds=round(time.monotonic() - started, 1), warmup_loss=round(loss, 5),
                source_checkpoint=checkpoint.name, torch=torch.__version__,
                llm=LLM_SIZE, clip=CLIP_SIZE, log=str(build / "pretrain.log"))


def ensure_demo_models(cache_dir: Path, progress: Optional[Progress] = None) -> ModelPaths:
    """Build the demo models into ``cache_dir`` once (offline, CPU); return their paths.

    Cached: a manifest written last marks a finished build. Concurrent callers
    wait on a file lock and then find the cache. Raises DemoPretrainError
    (a RuntimeError naming the log) if the xtuner pretrain run fails.
    """
    root = Path(cache_dir)
    report = progress or (lambda fraction, message: None)
    if _cached(root):
        report(1.0, "Demo models ready (cached)")
        return _paths(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not _cached(root):  # another process may have built it meanwhile
            manifest = _build(root, report)
            (root / MANIFEST).write_text(json.dumps(manifest, indent=2))
    report(1.0, "Demo models ready")
    return _paths(root)
