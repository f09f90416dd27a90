"""The export archive's layout and command (no models; the real `xtuner chat`
on an exported archive is in tests/app/test_compare_e2e.py)."""
import zipfile
from pathlib import Path

import pytest

from backend.compare.export import ExportError, build_archive, chat_command, readme
from backend.models.paths import ModelPaths

PATHS = ModelPaths(Path("/models/llm"), Path("/models/clip"), Path("/models/iter_2181.pth"))


def fake_hf(root: Path, parts=("projector", "llm_adapter", "visual_encoder_adapter")) -> Path:
    for part in parts:
        (root / part).mkdir(parents=True)
        (root / part / "config.json").write_text("{}")
        (root / part / "weights.safetensors").write_bytes(b"\0" * 16)
    return root


def test_the_lesson_command_for_the_exported_folder():
    assert chat_command(PATHS) == [
        "xtuner", "chat", "/models/llm", "--visual-encoder", "/models/clip", "--llava",
        "llava", "--prompt-template", "internlm2_chat", "--image", "image.jpg"]


def test_archive_holds_three_parts_image_readme_and_command(tmp_path):
    hf = fake_hf(tmp_path / "run-1" / "hf_finetuned")
    image = tmp_path / "image.jpg"
    image.write_bytes(b"jpeg")
    target = build_archive("run-1", hf, image, PATHS, tmp_path / "exports" / "run-1.zip")
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        command = archive.read("run-1/chat_command.txt").decode()
        text = archive.read("run-1/README.md").decode()
    for part in ("projector", "llm_adapter", "visual_encoder_adapter"):
        assert f"run-1/llava/{part}/config.json" in names
    assert "run-1/image.jpg" in names
    assert command.strip() == ("xtuner chat /models/llm --visual-encoder /models/clip "
                               "--llava llava --prompt-template internlm2_chat "
                               "--image image.jpg")
    assert command.strip() in text
    assert f'PYTHONPATH="$PWD/studio_fix" {command.strip()}' in text
    assert {"run-1/studio_fix/sitecustomize.py", "run-1/studio_fix/xtuner_patches.py"} <= names
    assert not list(target.parent.glob("*.partial"))


def test_visual_adapter_is_optional_but_projector_and_llm_adapter_are_not(tmp_path):
    hf = fake_hf(tmp_path / "hf", parts=("projector", "llm_adapter"))
    build_archive("r", hf, None, PATHS, tmp_path / "r.zip")
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(ExportError, match="projector, llm_adapter"):
        build_archive("r", empty, None, PATHS, tmp_path / "r2.zip")


def test_readme_names_the_source_checkpoint():
    assert "iter_50" in readme("r", PATHS, "checkpoint iter_50")
