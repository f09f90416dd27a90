"""Where each flow's seconds went: train, convert, chat."""
from __future__ import annotations

from bench.report.prose import prose
from bench.report.results import Results, fmt


def _chat(flow: dict, name: str) -> str:
    c = (flow.get("chat") or {}).get(name) or {}
    return (f"{fmt(c.get('seconds'))} ({fmt(c.get('to_first_prompt_s'))} to its first prompt, "
            f"answer {fmt(c.get('answer_s'))})")


def _app_steps(flow: dict) -> str:
    if "chat" not in flow:
        return flow.get("error") or "no answers"
    c = flow["chat"]
    return (f"train {fmt(flow['train'].get('train_s'))}, adapters read straight from "
            f"iter_N.pth {fmt(c.get('adapters_from_checkpoint_s'))}, chat models load + attach "
            f"{fmt(c.get('load_attach_s'))}, both answers {fmt(c.get('answers_s'))} (one loop); "
            f"then, off the path to the answers, pth_to_hf pretrain "
            f"{fmt(flow.get('convert_pretrain_s'))} / finetuned {fmt(flow.get('convert_finetuned_s'))}"
            f" (its adapters give the same answer: {flow.get('pth_to_hf_answer_same')}).")


def steps(r: Results) -> str:
    cli = r.cli
    return prose("steps", train_s=fmt(cli.get("train", {}).get("train_s")),
                 convert_pretrain_s=fmt(cli.get("convert_pretrain_s")),
                 convert_finetuned_s=fmt(cli.get("convert_finetuned_s")),
                 chat_base=_chat(cli, "base"), chat_finetuned=_chat(cli, "finetuned"),
                 lesson=_app_steps(r.lesson), fast=_app_steps(r.fast))
