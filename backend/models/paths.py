"""Where one profile's three model artefacts live."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelPaths:
    llm: Path                # folder: AutoModelForCausalLM + AutoTokenizer, trust_remote_code=True
    visual_encoder: Path     # folder: CLIPVisionModel + CLIPImageProcessor
    pretrained_pth: Path     # pretrain-stage projector checkpoint (the lesson's iter_2181.pth)

    def missing(self) -> list[Path]:
        """The paths that do not exist (empty when all are there)."""
        return [p for p in (self.llm, self.visual_encoder, self.pretrained_pth) if not p.exists()]
