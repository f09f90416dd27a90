"""Rendered CUDA configs and the real model's shape, for tests that check GPU
decisions without a GPU."""
import json
from pathlib import Path

from mmengine.config import Config

from backend.training.memory import ModelDims
from backend.xtuner.config import TrainConfig, render_config
from backend.xtuner.recipes import LESSON

INTERNLM2_1_8B = ModelDims(hidden=2048, intermediate=8192, layers=24, heads=16, kv_heads=8,
                           vocab=92544, clip_hidden=1024, clip_intermediate=4096,
                           clip_layers=24, image_size=336, patch_size=14)


def cuda_config(tmp_path: Path, recipe=LESSON, **kwargs) -> TrainConfig:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "eval_questions.json").write_text(json.dumps(["What is in the cup?"]))
    return TrainConfig(llm_path=tmp_path / "llm", visual_encoder_path=tmp_path / "clip",
                       pretrained_pth=tmp_path / "iter_2181.pth",
                       data_file=data / "repeated_data.json", image_file=data / "image.jpg",
                       questions_file=data / "eval_questions.json", work_dir=tmp_path / "run",
                       options=recipe.options, device="cuda",
                       quantize_4bit=recipe.quantize_4bit, recipe=recipe, **kwargs)


def load(tmp_path: Path, config: TrainConfig) -> Config:
    path = tmp_path / "rendered.py"
    path.write_text(render_config(config))
    return Config.fromfile(str(path))
