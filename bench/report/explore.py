"""bench/results/explore/*.json (bench/device/explore.sh) -> a RESULTS.md section.

Those runs shared one GPU (several variants per device call), so only their
outcome and their step count mean something; their s/iter do not.
"""
from __future__ import annotations

import json
from pathlib import Path

THRESHOLD = 0.9  # issue 5's outcome check: ROUGE-L >= 0.9 for every trained question


def reproduced(answers: list[dict]) -> int:
    """How many answers reach the outcome check's ROUGE-L threshold."""
    return sum(a["rouge_l"] >= THRESHOLD for a in answers)


def load_variants(folder: Path) -> list[dict]:
    variants = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        meta = data["meta"]
        for name, run in data.items():
            if name == "meta" or "outcome" not in run:
                continue
            variants.append({"name": name, "call": meta.get("device_call"),
                             "source": meta.get("source", "results_fast.json"), **run})
    return sorted(variants, key=lambda v: (v["call"] or 0, v["name"]))


def _spec(name: str) -> str:
    parts = name.removeprefix("fast_").split("_")
    words = {"nockpt": "no activation checkpointing", "const": "constant lr"}
    out = []
    for part in parts:
        if part.startswith("b") and part[1:].isdigit():
            out.append(f"batch {part[1:]}")
        elif part.startswith("lr"):
            out.append(f"lr {part[2:]}")
        elif part.startswith("wu"):
            out.append(f"warm-up {float(part[2:]):.0%} of the steps")
        elif part.startswith("beta"):
            out.append(f"Adam beta2 {part[4:]}")
        elif part.startswith("lp"):
            out.append(f"LoRA+ (B matrices at {part[2:]}x lr)")
        else:
            out.append(words.get(part, part))
    return ", ".join(out)


def explore_section(folder: Path) -> str:
    variants = load_variants(folder)
    if not variants:
        return ""
    shared = {}
    for v in variants:
        shared[v["call"]] = shared.get(v["call"], 0) + 1
    lines = ["| device call (runs sharing the GPU) | variant of the fast recipe | steps | "
             "trained questions reproduced (ROUGE-L >= 0.9) | min ROUGE-L |",
             "|---|---|---|---|---|"]
    for v in variants:
        answers = v["outcome"]["answers"]
        passed = reproduced(answers)
        lines.append(f"| {v['call']} ({shared[v['call']]}) | {_spec(v['name'])} "
                     f"| {v['train']['iters']} | {passed} of {len(answers)} "
                     f"| {v['outcome']['min_rouge_l']:.2f} |")
    return "\n".join(lines)
