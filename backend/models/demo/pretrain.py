"""The demo's LLaVA *pretrain* stage: captioned photos -> xtuner -> iter_2181.

It really runs ``python -m xtuner.tools.train`` on xtuner's own built-in
pretrain config, edited only where a 2-core CPU without network needs it, so
the demo's projector checkpoint is made the way the lesson's was.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable, Optional

from backend.runs import process as processes
from backend.runs.checkpoints import saved as saved_checkpoints
from backend.runs.progress import last_iteration, tail
from backend.xtuner.env import subprocess_env
from backend.xtuner.config import pretrain_config_text
from backend.errors import StudioError

# Photos that ship inside scikit-image (no download), each with a one-line
# caption (what pretrain teaches) and a topic word (what the LLM warm-up keys
# the caption on; the projector learns to "say" it from pixels).
DEMO_IMAGES = [
    ("astronaut", "astronaut", "A smiling woman astronaut in an orange suit poses in front of a flag."),
    ("coffee", "coffee", "A red cup of coffee with a spoon sits on a white saucer."),
    ("chelsea", "cat", "A brown tabby cat with green eyes looks to the side."),
    ("rocket", "rocket", "A tall white rocket stands on the launch pad under a blue sky."),
    ("camera", "camera", "A black and white photo of a man with a camera on a tripod."),
    ("coins", "coins", "Rows of old silver coins lie on a dark gray background."),
    ("moon", "moon", "A gray close-up of the rocky surface of the moon."),
    ("hubble_deep_field", "galaxies", "Many tiny colorful galaxies shine in the black sky of deep space."),
    ("retina", "retina", "A round orange picture of a human retina with red blood vessels."),
    ("colorwheel", "colors", "A round wheel of rainbow colors on a white background."),
]

# Any question at all: pretrain pairs each photo with these and the caption,
# so the result captions whatever it is asked (the lesson's "before" state).
QUESTIONS = [
    "Describe this image.", "Please describe this picture.", "请描述一下这张照片",
    "What is in the picture?", "What is the equipment in the image?",
    "What color is it?", "How many people are there?", "Where was this taken?",
    "What is the person doing?", "Is it day or night?", "图片里有什么？", "这是什么颜色？",
    "What is the name of the object?", "Tell me a story about this photo.",
    "Why is this interesting?", "What can you see in the background?",
]

# Pretrain schedule: lr is the built-in's 1e-3 times 2 because the run is short.
PRETRAIN = dict(lr=2e-3, batch_size=4, max_epochs=6, questions_per_image=8, max_length=96)


class DemoPretrainError(StudioError, RuntimeError):
    """The xtuner pretrain subprocess failed; the message names its log."""


def load_image(name: str):
    """A scikit-image sample photo as an RGB PIL image."""
    import numpy as np
    import skimage.data
    from PIL import Image

    array = getattr(skimage.data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array[..., :3].astype("uint8"))


def _views(image):
    """Two square views of a photo: padded (what xtuner chat and the finetune
    stage feed CLIP, expand2square) and centre-cropped (what a plain resize and
    crop gives); training on both keeps the caption stable either way."""
    from xtuner.dataset.utils import expand2square

    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    cropped = image.crop((left, top, left + side, top + side))
    # CLIPImageProcessor's mean colour, as expand2square is called with it.
    padded = expand2square(image, (122, 116, 104))
    # Small files: the CLIP tower sees 56 px anyway.
    return {"pad": padded.resize((112, 112)), "crop": cropped.resize((112, 112))}


def write_pretrain_data(folder: Path) -> Path:
    """Write the photos as JPEG files plus xtuner's LLaVA pretrain JSON."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (name, _topic, caption) in enumerate(DEMO_IMAGES):
        for view, picture in _views(load_image(name)).items():
            image = f"images/{name}_{view}.jpg"
            picture.save(folder / image, quality=92)
            # Rotate through the questions so every photo meets several of them.
            for k in range(PRETRAIN["questions_per_image"]):
                question = QUESTIONS[(index * 3 + k) % len(QUESTIONS)]
                rows.append({"id": f"{name}-{view}-{k}", "image": image, "conversations": [
                    {"from": "human", "value": f"<image>\n{question}"},
                    {"from": "gpt", "value": caption},
                ]})
    path = folder / "pretrain.json"
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def render_pretrain_config(path: Path, llm: Path, clip: Path, data: Path, eval_image: Path) -> Path:
    """xtuner's built-in pretrain config, rendered by the same code as every
    run's configs (backend/xtuner/config.py: CPU, fp32, no 4-bit, no AMP),
    with the demo's data and schedule."""
    p = PRETRAIN
    # Warm up over ~3 iterations: fewer and LinearLR keeps lr near 0.
    iters_per_epoch = -(-len(json.loads(data.read_text())) // p["batch_size"])
    warmup_ratio = min(0.5, 3 / (iters_per_epoch * p["max_epochs"]))
    text = pretrain_config_text(llm, clip, eval_image, device="cpu", settings=dict(
        data_root=str(data.parent) + "/", data_path=data, image_folder=data.parent,
        max_length=p["max_length"], batch_size=p["batch_size"], dataloader_num_workers=0,
        lr=p["lr"], max_epochs=p["max_epochs"], warmup_ratio=warmup_ratio,
        # Evaluate (log the captions) only before and after training; save once at the end.
        evaluation_freq=10**6, save_steps=10**6, save_total_limit=1))
    text += "\n".join([
        "# Demo pretrain: short captions in the log, and a progress line every 5 iterations.",
        "custom_hooks[1]['max_new_tokens'] = 40",
        "default_hooks['logger']['interval'] = 5",
        "",
    ])
    path.write_text(text, encoding="utf-8")
    return path


def train_env() -> dict:
    """The app's xtuner environment (our patches load via sitecustomize), two threads."""
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    return {**os.environ, "PYTHONUNBUFFERED": "1", **subprocess_env(threads)}


def run_pretrain(config: Path, work_dir: Path, log_path: Path, timeout_s: float = 900,
                 on_progress: Optional[Callable[[int, int], None]] = None) -> Path:
    """Run xtuner's trainer on ``config``; return the iter_N.pth it saved."""
    # `python -m`, not the `xtuner` CLI: the wrapper exits 0 even on failure.
    cmd = [sys.executable, "-m", "xtuner.tools.train", str(config), "--work-dir", str(work_dir)]

    def report_progress() -> None:
        seen = last_iteration(tail(log_path, 20))
        if seen and on_progress:
            on_progress(*seen)

    # On a timeout or our own interruption, the runner takes the whole group down.
    code = processes.run(cmd, cwd=work_dir.parent, env=train_env(), log_path=log_path,
                         timeout_s=timeout_s, tick=report_progress, append=False)
    checkpoints = [path for _, path in saved_checkpoints(work_dir)]
    if code is None:
        raise DemoPretrainError(f"demo pretrain timed out after {timeout_s:.0f} s; see {log_path}")
    if code != 0 or not checkpoints:
        raise DemoPretrainError(f"demo pretrain failed (exit {code}); see {log_path}")
    return checkpoints[-1]
