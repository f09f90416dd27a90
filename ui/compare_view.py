"""Compare-tab results -> what the components show (chat messages, markdown,
tables). Pure functions of backend results and a language's strings."""
from __future__ import annotations

import html

import pandas as pd

from backend.compare.probes import OTHER_IMAGE, TRAINING_IMAGE


def empty_history() -> dict:
    """Each model's own turns; ``key`` = the (run, after, image) they belong to."""
    return {"key": None, "base": [], "finetuned": []}


def with_turn(pairs: list, question: str, answer: str) -> list[dict]:
    """Chatbot messages for earlier turns plus the one being answered."""
    messages = []
    for asked, answered in list(pairs) + [[question, answer]]:
        messages += [{"role": "user", "content": asked},
                     {"role": "assistant", "content": answered}]
    return messages


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def judge_markdown(judged: dict, text: dict) -> str:
    """One model's ROUGE-L and verbatim flag under its answer."""
    if judged["rouge_l"] is None:
        return f"{text['cmp_echo']}: **{_score(judged['echo_rouge_l'])}**"
    flag = f"✅ {text['cmp_verbatim']}" if judged["verbatim"] else text["cmp_not_verbatim"]
    return f"ROUGE-L **{_score(judged['rouge_l'])}** · {flag}"


def answer_note(score_line: str, dropped: int, text: dict) -> str:
    """The score line, and a note when bytes that formed no character were left out."""
    if not dropped:
        return score_line
    return score_line + f"\n\n<small>{text['note_dropped'].format(count=dropped)}</small>"


def noise_line(reasons: list[str], repeats: int | None, text: dict) -> str:
    """One line saying why both answers may be noise (backend/compare/answer_notes.py)."""
    if not reasons:
        return ""
    said = " ".join(text[key].format(repeats=repeats) for key in reasons)
    return "\n\n⚠️ " + text["note_why"].format(reasons=said)


def reference_markdown(references: list[str], text: dict) -> str:
    if not references:
        return f"*{text['cmp_no_reference']}*"
    # Model and user text is shown as text, never as markup.
    quoted = "\n".join(f"> {html.escape(r)}" if len(references) == 1 else
                       f"- {html.escape(r)}" for r in references)
    return quoted + f"\n\n<small>{text['cmp_diff_legend']}</small>"


def score_texts(shown: dict | None, text: dict) -> tuple[str, str, str]:
    """The scores under both answers and the reference box, in ``text``'s
    language, from what the last turn left in the history (``shown``): the
    language switch writes them again; blank before any turn."""
    if not shown:
        return "", "", ""
    judged, dropped = shown["judged"], shown["dropped"]
    return (answer_note(judge_markdown(judged["base"], text), dropped[0], text),
            answer_note(judge_markdown(judged["finetuned"], text), dropped[1], text),
            reference_markdown(judged["references"], text)
            + noise_line(shown["reasons"], shown["repeats"], text))


PROBE_DATATYPES = ["str"] * 9 + ["html"]  # the last column is the escaped HTML diff
# The table a student reads first: four columns fit 1366 px without scrolling.
PROBE_SUMMARY_WIDTHS = ["24%", "31%", "31%", "14%"]


def probe_questions(typed: str | None, text: dict) -> str:
    """The typed probe questions, or the default ones in the page's language."""
    return typed if typed and typed.strip() else text["cmp_probe_defaults"]


def probe_summary_frame(rows: list[dict], text: dict) -> pd.DataFrame:
    """Question (and which image), both answers, and the scores: the rest of
    probe_frame's columns are one click away, under the table."""
    image_names = {TRAINING_IMAGE: text["val_training_image"],
                   OTHER_IMAGE: text["val_other_image"]}
    shown = []
    for r in rows:
        score = "—"
        if r["trained"]:
            score = f"{_score(r['base_rouge_l'])} → {_score(r['finetuned_rouge_l'])}"
            score += f" ✅ {text['cmp_verbatim']}" if r["finetuned_verbatim"] else ""
        shown.append([f"{r['question']} · {image_names[r['image']]}", r["base_answer"],
                      r["finetuned_answer"], score])
    columns = ["col_question", "col_base", "col_finetuned", "col_score"]
    return pd.DataFrame(shown, columns=[text[c] for c in columns])


def probe_tables(rows: list[dict], text: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both probe tables in the reader's language; with no rows, their headers
    (an empty gradio table would show "1 2 3")."""
    return probe_summary_frame(rows, text), probe_frame(rows, text)


def probe_frame(rows: list[dict], text: dict) -> pd.DataFrame:
    """The probe table in the reader's language, every column (the CSV keeps English keys)."""
    image_names = {TRAINING_IMAGE: text["val_training_image"],
                   OTHER_IMAGE: text["val_other_image"]}
    yes_no = {True: text["val_yes"], False: text["val_no"]}
    columns = ["col_image", "col_question", "col_reference", "col_base", "col_finetuned",
               "col_base_rouge", "col_finetuned_rouge", "col_verbatim", "col_echo", "col_diff"]
    shown = [[image_names[r["image"]], r["question"], r["reference"] or "—",
              r["base_answer"], r["finetuned_answer"], _score(r["base_rouge_l"]),
              _score(r["finetuned_rouge_l"]),
              yes_no[r["finetuned_verbatim"]] if r["trained"] else "—",
              _score(r["finetuned_echo_rouge_l"]), r["finetuned_diff_html"]] for r in rows]
    return pd.DataFrame(shown, columns=[text[c] for c in columns])


def timeline_frame(entries: list[dict], text: dict) -> pd.DataFrame:
    """Rows = evaluations, columns = questions; an unchanged answer shows as 〃
    so the iteration where it flips stands out."""
    questions: list[str] = []
    for entry in entries:
        for item in entry["answers"]:
            if item["question"] not in questions:
                questions.append(item["question"])
    rows, last = [], {}
    for entry in entries:
        answers = {item["question"]: item["answer"] for item in entry["answers"]}
        label = f"iter_{entry['iter']}" + (" 💾" if entry["checkpoint"] else "")
        row = [label]
        for question in questions:
            answer = answers.get(question, "")
            row.append(text["val_unchanged"] if last.get(question) == answer else answer)
            last[question] = answer
        rows.append(row)
    return pd.DataFrame(rows, columns=[text["col_iter"]] + questions)
