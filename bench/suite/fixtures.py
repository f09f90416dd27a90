"""What every bench flow shares: the six Q&A pairs, the dataset files, the app's env."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from backend.data import dataset as ds

REPO = Path(__file__).resolve().parents[2]

# Six single-turn conversations about assets/example.jpg (the lesson: 6 x 200).
QA = [
    ("What drink is in the cup?",
     "A cup of latte with milk foam art shaped like a leaf, served hot in a white cup."),
    ("What color is the cup?",
     "The cup and its saucer are white, with a thin red rim on the saucer."),
    ("Where is the cup standing?",
     "It stands on a wooden table, next to a small silver spoon and a folded napkin."),
    ("What time of day could it be?",
     "Probably morning: the light is soft and warm, like the first coffee of the day."),
    ("Is there anything to eat?",
     "No food is visible, only the latte, the saucer and the spoon on the table."),
    ("How would you describe the mood?",
     "Calm and cozy, a quiet coffee break in a small cafe on a slow day."),
]
CORPUS = [q for q, _ in QA] + [a for _, a in QA] + [
    "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>system\n",
    "Please describe this picture.", "What is in the image?", "请描述一下这张照片"]
LESSON_SAMPLES = 1200          # the lesson: 6 conversations x 200 repeats
MAX_NEW_TOKENS = 128           # both chats (random base weights never stop by themselves)
IMAGE = REPO / "assets" / "example.jpg"


def make_dataset(folder: Path, repeats: int) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / IMAGE.name
    shutil.copy(IMAGE, image)
    records = ds.build_records(ds.conversations_from_rows(QA), image.name, repeats)
    data = folder / "repeated_data.json"
    data.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    questions = folder / "eval_questions.json"
    questions.write_text(json.dumps([q for q, _ in QA]), encoding="utf-8")
    return data, image, questions


def base_env(threads: int) -> dict:
    """The app's subprocess env (backend/training/service.py); it keeps this machine's
    PYTHONPATH (the carried wheels) behind ours."""
    from backend.xtuner.env import subprocess_env

    return {**os.environ, "PYTHONUNBUFFERED": "1", **subprocess_env(threads)}


def seq_len(paths) -> int:
    """LLM tokens of the longest sample (image patches included)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(paths.llm), trust_remote_code=True)
    longest = max(len(tok.encode(ds.prompt_preview(c))) for c in ds.conversations_from_rows(QA))
    return longest - 1 + 576  # '<image>' becomes 576 patch embeddings
