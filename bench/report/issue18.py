"""Issue 18's verdict table (the top of RESULTS.md) and the tables of one set
of device calls, from a folder laid out as bench/results/issue18/ (the tenth
session's), issue18_warm/ (warm trainers) and issue18_shared/ (each run's
share of the cores, Compare on the bare LLM): pace/ (runs one at a time, then
Compare), side_by_side/ (both flows' costs in one call), whole_length/ (the
fast recipe over all 1,200 samples), and where a later call timed Compare
again, that call's folder (its compare/)."""
from __future__ import annotations

import json
from pathlib import Path

from bench.report.explore import reproduced
from bench.report.results import fmt, full, ratio

TARGET_RATIO = 0.2
TARGET_PEAK_MIB = 20 * 1024
LESSON_REPRODUCED = 4  # the lesson's own recipe over its whole length (bench/RESULTS.md)


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _runs(data: dict):
    return [(name, run) for name, run in data.items() if name != "meta"]


def figures(folder: Path, compare_call: str = "pace", whole_from: Path | None = None) -> dict:
    """Everything the verdict and the tables say, computed once. Compare's
    timing from ``folder/compare_call/compare``; the whole-length run from
    ``whole_from`` when this set of calls did not repeat it."""
    pace = []
    for path in sorted(folder.glob("pace/*/results_fast.json")):
        data = _load(path)
        for name, run in _runs(data):
            pace.append({"name": name, "note": data["meta"].get("note", ""), **run["train"]})
    compare = _load(folder / compare_call / "compare" / "results_compare.json").get("compare", {})
    side = _load(folder / "side_by_side" / "results_side_by_side.json")
    whole = dict(_runs(_load((whole_from or folder) / "whole_length" / "results_fast.json")))
    whole = next(iter(whole.values()), {})
    cli, app = side.get("cli", {}), side.get("app_fast", {})
    answers = whole.get("outcome", {}).get("answers", [])
    return {"pace": pace, "compare": compare, "cli": cli, "app": app, "whole": whole,
            "cli_full": full(cli), "app_full": full(app),
            "whole_reproduced": reproduced(answers), "whole_questions": len(answers)}


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**not met**")


# Which device call each figure comes from, as the prose above the table numbers them.
CALLS = {"side": "call 2", "whole": "call 3", "compare": "call 1"}


def app_default_recipe() -> str:
    """``--recipe``'s default as the app ships it."""
    from backend.settings import build_parser

    return build_parser().get_default("recipe")


def verdict_table(f: dict, calls: dict | None = None, default_recipe: str | None = None,
                  earlier: dict | None = None) -> str:
    """``earlier``: the figures of an earlier set of calls whose side-by-side
    ratio the ratio row also names (one call's ratio carries the step time's
    spread from run to run)."""
    calls = {**CALLS, **(calls or {})}
    default_recipe = default_recipe or app_default_recipe()
    side_ratio = ratio(f["app_full"], f["cli_full"])
    whole_ratio = ratio(f["whole"].get("end_to_end_s"), f["cli_full"])
    peaks = [p["peak_mib"] for p in f["pace"]]
    peaks += [f["whole"]["train"]["peak_mib"]] if f["whole"] else []
    app_runs = f["compare"].get("app", [])
    first = min((a["first_tokens_s"] for a in app_runs), default=None)
    both = min((a["both_s"] for a in app_runs), default=None)
    chat = f["compare"].get("xtuner_chat", {})
    one_answer = max((c["answer_s"] for c in chat.values() if c.get("answer_s")), default=None)
    targets = [  # (target, measured, met)
        ("fast <= 0.2x the lesson's CLI flow end to end, side by side in one call",
         f"{fmt(side_ratio, 3)}x: app {fmt(f['app_full'], 0)} s, CLI {fmt(f['cli_full'], 0)} s "
         f"(1,200 samples, each from its own steps and fixed costs in {calls['side']}); the "
         f"whole-length run alone ({calls['whole']}): {fmt(f['whole'].get('end_to_end_s'), 0)} s "
         f"= {fmt(whole_ratio, 3)}x of that CLI flow"
         + (f"; the earlier side-by-side ({calls['earlier']}): "
            f"{fmt(ratio(earlier['app_full'], earlier['cli_full']), 3)}x" if earlier else ""),
         side_ratio is not None and side_ratio <= TARGET_RATIO),
        (f"... with the outcome check: >= {LESSON_REPRODUCED} of 6 trained answers at ROUGE-L >= 0.9",
         f"{f['whole_reproduced']} of {f['whole_questions']}, the shipped fast recipe over all "
         f"1,200 samples ({calls['whole']})",
         f["whole_reproduced"] >= LESSON_REPRODUCED),
        ("peak <= 20 GB (mmengine)",
         f"at most {max(peaks) if peaks else '–'} MiB (150 and 1,200 steps); the shipped hook keeps "
         "the input embeddings in fp32: +0.35 GiB by the estimate",
         bool(peaks) and max(peaks) <= TARGET_PEAK_MIB),
        ("Compare: first tokens of both answers <= 1 s, models warm",
         f"{fmt(first, 2)} s (after one turn; the first turn after loading: "
         f"{fmt(app_runs[0]['first_tokens_s'] if app_runs else None, 2)} s; {calls['compare']})",
         first is not None and first <= 1.0),
        ("Compare: both answers in no more time than one `xtuner chat` answer",
         f"{fmt(both, 2)} s at best of {len(app_runs)} "
         f"({', '.join(fmt(a['both_s'], 2) for a in app_runs) or '–'}) against "
         f"{fmt(one_answer, 2)} s (xtuner chat's longer answer, the base model's 128 tokens; "
         f"{calls['compare']})",
         both is not None and one_answer is not None and both <= one_answer),
    ]
    every_target_met = all(met for _t, _m, met in targets)
    fast_default = default_recipe in ("fast", "auto")
    rows = [(t, m, _met(met)) for t, m, met in targets]
    rows.append(("on a GPU the default becomes the fast recipe once all the above holds",
                 f"`--recipe {default_recipe}` is the default"
                 + (" (fast wherever its memory estimate fits the GPUs); the Finetune tab "
                    "offers \"The lesson's recipe\" beside it" if default_recipe == "auto" else "")
                 + ("" if every_target_met else "; not all targets hold"),
                 "**done**" if every_target_met and fast_default else
                 "**to do**" if every_target_met else
                 "**not done**" if not fast_default else "**done too early**"))
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in rows]
    return "\n".join(lines)


def compare_lines(f: dict) -> str:
    """Compare's timing in one call: the app's turns, then xtuner chat's answers."""
    compare = f["compare"]
    if not compare:
        return "No Compare timing."
    turns = "; ".join(f"{fmt(a['first_tokens_s'], 2)} s to both first tokens, "
                      f"{fmt(a['both_s'], 2)} s to both answers" for a in compare.get("app", []))
    chats = ", ".join(f"{who} {fmt(c.get('answer_s'), 2)} s"
                      for who, c in compare.get("xtuner_chat", {}).items())
    return f"The app, turn by turn: {turns}. `xtuner chat`, one answer each: {chats}."


def pace_table(f: dict) -> str:
    lines = ["| variant | what it adds | s/iter (median of 150) | first step (s) | peak MiB |",
             "|---|---|---|---|---|"]
    for p in f["pace"]:
        lines.append(f"| {p['name']} | {p['note']} | {p['s_per_iter']} | "
                     f"{fmt(p['first_iter_s'], 1)} | {p['peak_mib']} |")
    return "\n".join(lines)


def side_by_side_table(f: dict) -> str:
    cli, app = f["cli"], f["app"]
    if not cli or not app:
        return "No side-by-side results."
    ct, at = cli["train"], app["train"]
    chat = app.get("chat", {})
    return "\n".join([
        "| flow | steps run | s/iter | to first step (s) | end to end as run (s) | "
        "end to end, 1,200 samples (s) |", "|---|---|---|---|---|---|",
        f"| CLI, lesson recipe | {ct['max_iters']} | {ct['s_per_iter']} | "
        f"{fmt(ct['first_iter_s'], 1)} | {fmt(cli['end_to_end_s'], 1)} | {fmt(f['cli_full'], 1)} |",
        f"| app, fast recipe, chat models warm | {at['max_iters']} | {at['s_per_iter']} | "
        f"{fmt(at['first_iter_s'], 1)} | {fmt(app['end_to_end_s'], 1)} | {fmt(f['app_full'], 1)} |",
        "", f"App after training: adapters from iter_N.pth {fmt(chat.get('adapters_from_checkpoint_s'), 1)} s, "
        f"attach {fmt(chat.get('load_attach_s'), 1)} s, both answers {fmt(chat.get('answers_s'), 1)} s. "
        f"CLI: conversions {fmt(cli.get('convert_pretrain_s'), 1)} + "
        f"{fmt(cli.get('convert_finetuned_s'), 1)} s, chats "
        f"{fmt(cli['chat']['base']['seconds'], 1)} + {fmt(cli['chat']['finetuned']['seconds'], 1)} s."])


def whole_length_lines(f: dict) -> str:
    whole = f["whole"]
    if not whole:
        return "No whole-length run."
    t = whole["train"]
    lines = [f"{t['iters']} steps at {t['s_per_iter']} s/iter, {fmt(t['first_iter_s'], 1)} s to "
             f"the first step, peak {t['peak_mib']} MiB, {fmt(whole['end_to_end_s'], 1)} s to "
             f"both answers (chat models warm); {f['whole_reproduced']} of "
             f"{f['whole_questions']} trained answers reproduced:", ""]
    lines += [f"- {a['question']} -> \"{a['answer']}\" ({a['rouge_l']:.2f})"
              for a in whole.get("outcome", {}).get("answers", [])]
    return "\n".join(lines)
