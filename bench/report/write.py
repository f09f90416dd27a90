"""results_*.json (from the device runs) -> bench/RESULTS.md, one section after another.

Each section computes its numbers in bench/report/sections/ and takes its words, the
work log of the device calls included, from bench/report/prose/<section>.md."""
from __future__ import annotations

from pathlib import Path

from bench.report.results import load
from bench.report.sections.findings import (class_pack, compile_, explore, issue18, launch,
                                            lesson_full, multi_gpu, pace, profile)
from bench.report.sections.notes import memory, notes
from bench.report.sections.outcome import outcome
from bench.report.sections.steps import steps
from bench.report.sections.summary import summary
from bench.report.sections.verdict import verdict

SECTIONS = (issue18, summary, steps, outcome, verdict, explore, lesson_full, profile, compile_, pace,
            multi_gpu, class_pack, launch, notes, memory)


def write_report(dirs: list[Path], target: Path) -> str:
    results = load(dirs)
    text = "\n\n".join(section(results) for section in SECTIONS) + "\n"
    target.write_text(text, encoding="utf-8")
    return text
