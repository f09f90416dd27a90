"""Where the models live: demo (built locally), internstudio, custom."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from backend.models.paths import ModelPaths
from backend.settings import Settings
from backend.errors import StudioError

INTERNSTUDIO_ROOT = Path("/root/share/new_models")


def internstudio_paths(root: Path = INTERNSTUDIO_ROOT) -> ModelPaths:
    """The lesson's paths on InternStudio."""
    return ModelPaths(llm=root / "Shanghai_AI_Laboratory" / "internlm2-chat-1_8b",
                      visual_encoder=root / "openai" / "clip-vit-large-patch14-336",
                      pretrained_pth=root / "xtuner" / "iter_2181.pth")


# What the lesson calls each artefact, in the order the lesson introduces them.
INTERNSTUDIO_ITEMS = (("llm", "InternLM2-Chat-1.8B"), ("visual_encoder", "CLIP ViT-L/14-336"),
                      ("pretrained_pth", "iter_2181.pth (Pretrain: Image Projector)"))


@dataclass(frozen=True)
class Detected:
    """One of the lesson's model paths and whether it is there."""
    name: str
    path: Path
    found: bool


def detect_internstudio(root: Path = INTERNSTUDIO_ROOT) -> list[Detected]:
    """Which of the lesson's three paths exist under root (the page lists them)."""
    paths = internstudio_paths(root)
    return [Detected(label, getattr(paths, field), getattr(paths, field).exists())
            for field, label in INTERNSTUDIO_ITEMS]


def describe_detection(found: list[Detected]) -> str:
    """The detection in one English line, for the log (the page translates its own)."""
    have = [d.name for d in found if d.found]
    lack = [f"{d.name} ({d.path})" for d in found if not d.found]
    return (f"InternStudio models found: {', '.join(have) or 'none'}; "
            f"missing: {', '.join(lack) or 'none'}")


class ProfileError(StudioError, RuntimeError):
    """The chosen profile's models are not where they should be."""


@dataclass(frozen=True)
class Profile:
    name: str
    # Resolving the demo profile builds models (minutes), so it is deferred.
    _resolve: Callable[[Callable[[float, str], None] | None], ModelPaths]
    description: str
    # What auto-detection saw of the lesson's paths, whatever profile was chosen:
    # on InternStudio a missing iter_2181.pth is the first thing to tell a student.
    internstudio: tuple[Detected, ...] = ()

    def paths(self, progress: Callable[[float, str], None] | None = None) -> ModelPaths:
        return self._resolve(progress)


def _existing(paths: ModelPaths, name: str) -> ModelPaths:
    missing = paths.missing()
    if missing:
        raise ProfileError(f"Profile {name}: missing " + ", ".join(map(str, missing)))
    return paths


def choose_profile(settings: Settings, internstudio_root: Path = INTERNSTUDIO_ROOT) -> Profile:
    """Pick the profile from settings; 'auto' prefers the lesson's real models."""
    name = settings.profile
    lesson = internstudio_paths(internstudio_root)
    detected = tuple(detect_internstudio(internstudio_root))
    logging.getLogger(__name__).info(describe_detection(list(detected)))
    if name == "auto":
        name = "internstudio" if all(d.found for d in detected) else "demo"
    if name == "internstudio":
        return Profile("internstudio", lambda _progress: _existing(lesson, "internstudio"),
                       f"InternStudio models under {internstudio_root}", detected)
    if name == "custom":
        given = (settings.llm_path, settings.visual_encoder_path, settings.pretrained_pth)
        if not all(given):
            raise ProfileError("Profile custom needs --llm, --visual-encoder and "
                               "--pretrained-pth (or their STUDIO_* variables).")
        paths = ModelPaths(*(Path(p).resolve() for p in given))
        return Profile("custom", lambda _progress: _existing(paths, "custom"),
                       f"custom models: {paths.llm}", detected)
    cache = (settings.models_dir or settings.work_dir / "models") / "demo"

    def build(progress):
        from backend.models.demo.build import ensure_demo_models

        return ensure_demo_models(cache, progress)

    return Profile("demo", build, f"demo: small models built locally in {cache}", detected)
