"""A run's converted model as one zip that plain ``xtuner chat`` loads."""
from __future__ import annotations

import shlex
import zipfile
from pathlib import Path

from backend.models.paths import ModelPaths
from backend.errors import StudioError

PARTS = ("projector", "llm_adapter", "visual_encoder_adapter")
LLAVA_DIR = "llava"
IMAGE_NAME = "image.jpg"
# The archive carries our runtime fixes, so it works on a machine without the
# studio: Python runs sitecustomize at start-up when this folder is on PYTHONPATH.
FIX_DIR = "studio_fix"
PATCHES_FILE = Path(__file__).resolve().parents[1] / "xtuner" / "trainer_side" / "patches.py"
FIX_SITECUSTOMIZE = (
    '"""Applies XTuner LLaVA Studio\'s fixes for xtuner 0.2.0 at start-up."""\n'
    "import xtuner_patches  # noqa: F401\n")


class ExportError(StudioError, ValueError):
    """A run that has nothing to export yet."""


def chat_command(paths: ModelPaths, llava_dir: str = LLAVA_DIR,
                 image: str = IMAGE_NAME) -> list[str]:
    """The lesson's ``xtuner chat`` line for the exported folder."""
    return ["xtuner", "chat", str(paths.llm), "--visual-encoder", str(paths.visual_encoder),
            "--llava", llava_dir, "--prompt-template", "internlm2_chat", "--image", image]


def readme(run_id: str, paths: ModelPaths, source: str) -> str:
    command = shlex.join(chat_command(paths))
    return f"""# {run_id}: the finetuned LLaVA model from XTuner LLaVA Studio

`{LLAVA_DIR}/` holds what `xtuner convert pth_to_hf` made of {source}:
projector, llm_adapter (LoRA) and visual_encoder_adapter (LoRA). The LLM and the
visual encoder are not inside; the command points at the copies this app used.

Run in this folder (after unpacking):

    {command}

Type a question, press Enter twice; `EXIT` + Enter twice quits.
On a machine without a GPU add `--torch-dtype fp32`.

With transformers >= 4.45, InternLM2's remote code needs the studio's generation
fix, which `{FIX_DIR}/` carries (`xtuner_patches.py`; its `sitecustomize.py`
applies it when Python starts with the folder on PYTHONPATH). So run:

    PYTHONPATH="$PWD/{FIX_DIR}" {command}

(It replaces any sitecustomize of your own for this one command.)

`python -m xtuner.tools.chat` takes the same arguments as `xtuner chat`.
"""


def _source(hf_dir: Path) -> str:
    return "the run's last checkpoint" if hf_dir.name == "hf_finetuned" else \
        f"checkpoint {hf_dir.name[len('hf_'):]}"


def build_archive(run_id: str, hf_dir: Path, image: Path | None, paths: ModelPaths,
                  target: Path) -> Path:
    """Zip ``hf_dir``'s three parts under ``<run_id>/llava/``, the image, our
    runtime fixes and a README with the command. Written to a temporary name,
    then renamed."""
    root = run_id  # one top folder: unpacking never spills files around
    missing = [part for part in PARTS[:2] if not (hf_dir / part).is_dir()]
    if missing:
        raise ExportError(f"Run {run_id} has no converted {', '.join(missing)} in "
                          f"{hf_dir.name}/; it exports once training and conversion finish.")
    command = shlex.join(chat_command(paths)) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    # Adapters are already compressed float tensors; deflate barely helps.
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for part in PARTS:
            folder = hf_dir / part
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                if path.is_file():
                    archive.write(path, f"{root}/{LLAVA_DIR}/{part}/{path.relative_to(folder)}")
        if image is not None and image.is_file():
            archive.write(image, f"{root}/{IMAGE_NAME}")
        archive.write(PATCHES_FILE, f"{root}/{FIX_DIR}/xtuner_patches.py")
        archive.writestr(f"{root}/{FIX_DIR}/sitecustomize.py", FIX_SITECUSTOMIZE)
        archive.writestr(f"{root}/README.md", readme(run_id, paths, _source(hf_dir)))
        archive.writestr(f"{root}/chat_command.txt", command)
    partial.replace(target)
    return target
