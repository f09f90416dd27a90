"""The report's tail: how the flows were run, and the memory estimate against the peaks."""
from __future__ import annotations

import json

from bench.report.explore import load_variants
from bench.report.prose import prose
from bench.report.results import Results


def notes(r: Results) -> str:
    return prose("notes")


def _memory_rows(seq_len: int, flows: list[dict]) -> list[str]:
    """Estimates recomputed with the final backend/training/memory.py formulas."""
    from backend.training.memory import GIB, ModelDims, chat_bytes, training_bytes

    dims = ModelDims(2048, 8192, 24, 16, 8, 92544, 1024, 4096, 24, 336, 14)
    lines = ["| run | estimate GiB | measured GiB | error |", "|---|---|---|---|"]
    for flow in flows:
        if not flow.get("train", {}).get("peak_mib"):
            continue
        measured = flow["train"]["peak_mib"] / 1024
        # The recipe's choices as the result recorded them (a recipe's name meant
        # different things over the sessions), else read from the variant's name.
        flags = {"activation_checkpointing": "nockpt" not in flow["recipe"],
                 **flow.get("recipe_flags", {})}
        est = training_bytes(dims, quantize_4bit=flow["recipe"] == "lesson",
                             batch_size=flow["batch_size"], seq_len=seq_len, **flags) / GIB
        lines.append(f"| train, {flow['recipe']}, batch {flow['batch_size']} x {seq_len} tokens "
                     f"| {est:.2f} | {measured:.2f} | {(est - measured) / measured:+.1%} |")
        if flow.get("chat_peak_gib"):
            cm = flow["chat_peak_gib"]
            ce = chat_bytes(dims, prompt_tokens=seq_len) / GIB
            lines.append(f"| resident chat (bf16) + 1 run's adapters, after {flow['recipe']} "
                         f"| {ce:.2f} | {cm:.2f} | {(ce - cm) / cm:+.1%} |")
    return lines


def memory(r: Results) -> str:
    explored = [v for v in load_variants(r.folder / "explore") if v["train"].get("peak_mib")]
    tenth = [run for path in sorted((r.folder / "issue18").glob("*/*/results_fast.json"))
             + sorted((r.folder / "issue18").glob("*/results_fast.json"))
             for name, run in json.loads(path.read_text()).items() if name != "meta"]
    flows = [r.lesson, r.fast, r.flow("fast_lr0.001"), *explored, *tenth]
    return prose("memory", table="\n".join(_memory_rows(r.meta.get("seq_len", 619), flows)))
