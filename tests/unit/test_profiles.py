"""InternStudio detection: fake model folders at the lesson's paths in a temp root."""
from pathlib import Path

import pytest
from mmengine.config import Config
from PIL import Image

from backend.data import dataset
from backend.data.store import DatasetStore
from backend.models.profiles import (ProfileError, choose_profile, describe_detection,
                              detect_internstudio, internstudio_paths)
from backend.services import LESSON_OPTIONS
from backend.settings import Settings
from backend.training.service import TrainingService
from backend.xtuner.config import write_configs

LESSON = {  # the lesson's own paths, relative to /root/share/new_models
    "llm": "Shanghai_AI_Laboratory/internlm2-chat-1_8b",
    "clip": "openai/clip-vit-large-patch14-336",
    "pth": "xtuner/iter_2181.pth",
}


def fake_internstudio(root: Path, *which: str) -> Path:
    """Create the lesson's model folders (and the projector file) under root."""
    for name in which or LESSON:
        path = root / LESSON[name]
        if name == "pth":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"fake checkpoint")
        else:
            path.mkdir(parents=True)
            (path / "config.json").write_text("{}")
    return root


def test_auto_picks_internstudio_and_the_config_points_at_its_models(tmp_path):
    root = fake_internstudio(tmp_path / "new_models")
    work = tmp_path / "work"
    profile = choose_profile(Settings(profile="auto", work_dir=work), internstudio_root=root)
    assert profile.name == "internstudio"
    assert all(d.found for d in profile.internstudio)
    paths = profile.paths()
    assert paths == internstudio_paths(root)

    # The app's own path from a dataset to the rendered xtuner config.
    image = tmp_path / "cat.png"
    Image.new("RGB", (64, 64), (200, 120, 40)).save(image)
    store = DatasetStore(work)
    stored = store.create(image, dataset.conversations_from_rows([("Q?", "A.")]), 2)
    service = TrainingService(store, None, work / "runs", profile.paths, LESSON_OPTIONS)
    config = service.plan(stored.dataset_id, LESSON_OPTIONS, work / "runs" / "run-test")
    finetune, pretrain = write_configs(config)

    cfg = Config.fromfile(str(finetune))
    assert cfg.model.llm.pretrained_model_name_or_path == str(
        root / "Shanghai_AI_Laboratory" / "internlm2-chat-1_8b")
    assert cfg.model.visual_encoder.pretrained_model_name_or_path == str(
        root / "openai" / "clip-vit-large-patch14-336")
    assert cfg.model.pretrained_pth == str(root / "xtuner" / "iter_2181.pth")
    assert cfg.train_dataloader.batch_size == LESSON_OPTIONS.batch_size
    pre = Config.fromfile(str(pretrain))
    assert pre.model.llm.pretrained_model_name_or_path == str(
        root / "Shanghai_AI_Laboratory" / "internlm2-chat-1_8b")


def test_a_missing_projector_keeps_auto_on_demo_and_says_what_is_missing(tmp_path):
    root = fake_internstudio(tmp_path / "new_models", "llm", "clip")
    profile = choose_profile(Settings(profile="auto", work_dir=tmp_path / "work"),
                             internstudio_root=root)
    assert profile.name == "demo"
    found = {d.name: d.found for d in profile.internstudio}
    assert found == {"InternLM2-Chat-1.8B": True, "CLIP ViT-L/14-336": True,
                     "iter_2181.pth (Pretrain: Image Projector)": False}
    line = describe_detection(detect_internstudio(root))
    assert "missing: iter_2181.pth" in line and str(root / "xtuner" / "iter_2181.pth") in line


def test_asking_for_internstudio_without_the_models_fails_clearly(tmp_path):
    profile = choose_profile(Settings(profile="internstudio", work_dir=tmp_path / "work"),
                             internstudio_root=tmp_path / "nothing")
    with pytest.raises(ProfileError, match="iter_2181.pth"):
        profile.paths()


@pytest.mark.parametrize("which, lang, expected", [
    (("llm", "clip", "pth"), "en", "the lesson's models are all under"),
    (("llm", "clip"), "en", "Missing: `"),
    (("llm", "clip"), "zh", "缺少"),
    ((), "zh", "不在 InternStudio 上"),
])
def test_the_page_says_which_lesson_models_it_found(tmp_path, which, lang, expected):
    from ui.app_ui import internstudio_markdown

    root = tmp_path / "new_models"
    root.mkdir()
    if which:
        fake_internstudio(root, *which)
    detected = tuple(detect_internstudio(root))
    text = internstudio_markdown(detected, "demo", lang)
    assert expected in text
    assert str(root) in text
    if which and len(which) < 3:
        assert "✅ InternLM2-Chat-1.8B" in text and "❌ iter_2181.pth" in text
