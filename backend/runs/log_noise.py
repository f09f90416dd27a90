"""Known noise in a run's log, hidden from students by default.

Most of a training log is library warnings a student cannot act on (mmengine
and transformers deprecations, DeepSpeed's configuration dump); the lines that
matter (iterations, losses, answers, errors) drown in them. The page hides
these behind a "show everything" switch; the log file itself keeps every line.
"""
from __future__ import annotations

import re

_NOISE = re.compile("|".join([
    r"deprecated",                                   # mmengine, transformers, torch
    r"You are using an old version of the checkpointing format",
    r"^\S+\.py:\d+: \w*Warning: ",                   # python warnings.warn(...)
    r"mmengine - WARNING - (Failed to search registry|Dataset \w+ has no metainfo)",
    r"`low_cpu_mem_usage` was None",
    r"\[config\.py:\d+:print\]",                     # DeepSpeed's configuration dump
    r"see_memory_usage|Setting ds_accelerator",
    r"destroy_process_group\(\) was not called",
]))
# The line after a python warning quotes its source ("  warnings.warn(").
_WARNING = re.compile(r"^\S+\.py:\d+: \w*Warning: ")


def is_noise(line: str) -> bool:
    return bool(_NOISE.search(line))


def without_noise(text: str, keep_last: int = 40) -> tuple[str, int]:
    """The log's last ``keep_last`` lines that are not known noise, and how
    many noise lines were left out of ``text``."""
    kept, hidden, after_warning = [], 0, False
    for line in text.splitlines(keepends=True):
        quoted_source = after_warning and line[:1] in (" ", "\t")
        after_warning = bool(_WARNING.search(line))
        if quoted_source or is_noise(line):
            hidden += 1
        else:
            kept.append(line)
    return "".join(kept[-keep_last:]), hidden
