"""The verdict against issue 5's targets, with the measured ratios filled in."""
from __future__ import annotations

from bench.report.prose import prose
from bench.report.results import Results, fmt, full, peak_gib, ratio
from bench.report.sections.summary import lesson_s_ratio


def verdict(r: Results) -> str:
    cli_full = full(r.cli)
    return prose("verdict", lesson_ratio=fmt(ratio(full(r.lesson), cli_full), 2),
                 s_ratio=fmt(lesson_s_ratio(r), 3), lesson_peak=fmt(peak_gib(r.lesson), 1),
                 fast_ratio=fmt(ratio(full(r.fast), cli_full), 2))
