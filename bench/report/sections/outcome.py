"""The outcome check: each finetuned model's answers to the trained questions, ROUGE-L."""
from __future__ import annotations

from bench.report.explore import THRESHOLD
from bench.report.prose import prose
from bench.report.results import Results, fmt


def _outcome(flow: dict) -> str:
    outcome = flow.get("outcome")
    if not outcome:
        return "not measured"
    lines = [f"min ROUGE-L {outcome['min_rouge_l']:.2f} "
             f"({'PASS' if outcome['min_rouge_l'] >= THRESHOLD else 'FAIL'}, "
             f"threshold {THRESHOLD})", ""]
    for a in outcome["answers"]:
        lines.append(f"- {a['question']} -> \"{a['answer'][:160]}\" ({a['rouge_l']:.2f})")
    return "\n".join(lines)


def outcome(r: Results) -> str:
    cli_answer = (r.cli.get("chat", {}).get("finetuned", {}) or {}).get("answer", "")
    return prose("outcome", fast=_outcome(r.fast), lr1=_outcome(r.flow("fast_lr0.001")),
                 lr2=_outcome(r.flow("fast_lr0.002")), lesson=_outcome(r.lesson),
                 cli_rouge_l=fmt(r.cli.get("finetuned_rouge_l"), 2), cli_answer=cli_answer[:200])
