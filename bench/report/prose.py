"""The report's words live in bench/report/prose/NAME.md (the work log included); the
sections fill in only the ${placeholders} they compute from the results."""
from __future__ import annotations

from pathlib import Path
from string import Template

PROSE = Path(__file__).with_name("prose")


def prose(name: str, **values: object) -> str:
    text = (PROSE / f"{name}.md").read_text(encoding="utf-8")
    return Template(text).substitute(values).rstrip("\n")
