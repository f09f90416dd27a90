"""Tab 3: the same image and question to the Pretrain and Finetune models,
scored against the run's own reference answers, plus probes, the checkpoint
timeline and the export. Logic lives in backend/compare/service.py; this file only
turns component values into calls and results into components."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from backend.compare.answer_notes import noise_reasons, repeats_of_run
from backend.models.chat_budget import PromptTooLong
from backend.compare.service import FINAL, training_finished
from backend.compare.probes import PROBE_IMAGE
from backend.models.readable_text import dropped_of
from backend.services import Services

from . import messages
from .compare_view import (PROBE_DATATYPES, PROBE_SUMMARY_WIDTHS, empty_history,
                           probe_frame, probe_questions, probe_summary_frame, score_texts,
                           timeline_frame, with_turn)
from .auth import user_of
from .errors import user_error
from .guard import guarded
from .language import language_of
from .messages import t

MODELS = {"concurrency_id": "models", "concurrency_limit": 1, "api_visibility": "private"}


@dataclass
class CompareTab:
    run: gr.Dropdown
    after: gr.Dropdown
    refresh: gr.Button
    image: gr.Image
    question: gr.Textbox
    ask: gr.Button
    new_chat: gr.Button
    base: gr.Chatbot
    finetuned: gr.Chatbot
    base_score: gr.Markdown
    finetuned_score: gr.Markdown
    reference: gr.Markdown
    diff: gr.HTML
    history: gr.State
    probe_questions: gr.Textbox
    probe_image: gr.Image
    probe: gr.Button
    probe_table: gr.Dataframe     # question, both answers, scores: fits 1366 px
    probe_results: gr.Column        # both tables, hidden until the probes have run
    probe_details_table: gr.Dataframe  # every column, on demand
    probe_progress: gr.Markdown
    probe_rows: gr.State            # the last probes' rows: the tables again in another language
    probe_csv: gr.File
    timeline_button: gr.Button
    timeline: gr.Dataframe
    timeline_entries: gr.State      # what the timeline shows: the table again in another language
    export_button: gr.Button
    export_file: gr.File
    export_command: gr.Code


def build_compare_tab() -> CompareTab:
    with gr.Row():
        run = gr.Dropdown(label=t("compare_run"), choices=[], interactive=True)
        after = gr.Dropdown(label=t("cmp_after"), info=t("cmp_after_info"), choices=[FINAL],
                            value=FINAL, interactive=True)
        refresh = gr.Button(t("refresh"), size="sm")
    with gr.Row():
        image = gr.Image(label=t("compare_image"), type="filepath", height=260)
        with gr.Column():
            question = gr.Textbox(label=t("compare_question"), lines=2)
            with gr.Row():
                ask = gr.Button(t("compare_button"), variant="primary")
                new_chat = gr.Button(t("cmp_new_chat"))
    with gr.Row(equal_height=True):
        with gr.Column():
            base = gr.Chatbot(label=t("base_answer"), height=300)
            base_score = gr.Markdown()
        with gr.Column():
            finetuned = gr.Chatbot(label=t("finetuned_answer"), height=300)
            finetuned_score = gr.Markdown()
        with gr.Column():
            gr.Markdown(t("cmp_reference"))
            reference = gr.Markdown()
            diff = gr.HTML()
    history = gr.State(empty_history())
    with gr.Accordion(t("cmp_probe_heading"), open=False):
        with gr.Row():
            probe_questions = gr.Textbox(label=t("cmp_probe_questions"), lines=3,
                                         placeholder=t("cmp_probe_defaults"))
            probe_image = gr.Image(label=t("cmp_probe_image"), type="filepath", height=160,
                                   value=str(PROBE_IMAGE))
        probe = gr.Button(t("cmp_probe_button"))
        probe_progress = gr.Markdown()
        # Tables filled once (gradio 6.17.3 keeps a streamed Dataframe at the row count
        # of its first value); hiding them until then left them hidden in the browser.
        with gr.Column() as probe_results:
            probe_table = gr.Dataframe(label=t("cmp_probe_table"), interactive=False,
                                       wrap=True, column_widths=PROBE_SUMMARY_WIDTHS,
                                       elem_id="probe-table")
            with gr.Accordion(t("cmp_probe_details"), open=False):
                probe_details_table = gr.Dataframe(interactive=False, wrap=True,
                                                   datatype=PROBE_DATATYPES, show_label=False)
        probe_rows = gr.State([])
        probe_csv = gr.File(label=t("cmp_probe_csv"), interactive=False)
    with gr.Accordion(t("cmp_timeline_heading"), open=False):
        timeline_button = gr.Button(t("cmp_timeline_button"))
        timeline = gr.Dataframe(label=t("cmp_timeline_table"), interactive=False, wrap=True)
        timeline_entries = gr.State([])
    with gr.Accordion(t("cmp_export_heading"), open=False):
        export_button = gr.Button(t("cmp_export_button"))
        export_file = gr.File(label=t("cmp_export_file"), interactive=False)
        export_command = gr.Code(label=t("cmp_export_command"), language="shell",
                                 interactive=False)
    return CompareTab(run, after, refresh, image, question, ask, new_chat, base, finetuned,
                      base_score, finetuned_score, reference, diff, history, probe_questions,
                      probe_image, probe, probe_table, probe_results, probe_details_table,
                      probe_progress, probe_rows, probe_csv, timeline_button, timeline,
                      timeline_entries,
                      export_button, export_file, export_command)


def comparable_runs(services: Services, user: str | None = None) -> list[str]:
    """Runs whose training has finished (their conversions may still run)."""
    return [r["run_id"] for r in reversed(services.access.visible_runs(user))
            if training_finished(r)]


def _readable_run(services: Services):
    """The Compare tab's access check: the visitor may read the run (the first
    argument; gradio passes gr.Request last)."""
    def check(args: tuple) -> None:
        if args and args[0]:
            services.access.check_run(user_of(args[-1]), args[0])
    return check


def wire_compare_tab(tab: CompareTab, services: Services) -> None:
    compare = services.compare

    def choices(request: gr.Request):
        runs = comparable_runs(services, user_of(request))
        return gr.update(choices=runs, value=runs[0] if runs else None)

    def after_choices(run_id, request: gr.Request):
        names = compare.after_choices(run_id) if run_id else [FINAL]
        return gr.update(choices=names, value=FINAL), empty_history()

    def ask(run_id, after, image, question, history, request: gr.Request):
        if not run_id:
            raise user_error(messages_for(request)["cmp_pick_run"], language_of(request))
        key = [run_id, after, image]
        if history.get("key") != key:  # another run, checkpoint or image: start over
            history = dict(empty_history(), key=key)
        text = messages_for(request)
        if not image:  # a teacher (or anyone) without an image asks about the run's own
            gr.Info(text["cmp_run_image"])
        try:
            for part in compare.turn(run_id, image, question, history, after):
                if not part["done"]:
                    yield (with_turn(history["base"], question, part["base"]),
                           with_turn(history["finetuned"], question, part["finetuned"]),
                           "", "", "", "", history)
        except PromptTooLong as error:
            raise user_error(text["cmp_question_too_long"].format(
                used=error.used, budget=error.budget), language_of(request))
        if part["dropped_turns"]:
            # The chat boxes still show every turn; the models did not see these.
            gr.Warning(text["cmp_history_dropped"].format(turns=part["dropped_turns"]))
        partial, judged = part, part["scores"]
        repeats = repeats_of_run(services.jobs, services.datasets, run_id)
        reasons = noise_reasons(bool(judged["references"]), repeats,
                                services.profile.name == "demo")
        # What the scores are made of stays with the chat: a language switch rewrites them.
        shown = {"judged": judged, "reasons": reasons, "repeats": repeats,
                 "dropped": (dropped_of(partial["base"]), dropped_of(partial["finetuned"]))}
        history = dict(history, **part["history"], shown=shown)
        yield (with_turn(history["base"][:-1], question, partial["base"]),
               with_turn(history["finetuned"][:-1], question, partial["finetuned"]),
               *score_texts(shown, text), judged["finetuned"]["diff_html"], history)

    def new_chat():
        return [], [], "", "", "", "", empty_history()

    def run_probes(run_id, after, questions, other_image, request: gr.Request):
        if not run_id:
            raise user_error(messages_for(request)["cmp_pick_run"], language_of(request))
        text = messages_for(request)
        rows = []
        # The tables are filled once, complete: gradio 6.17.3's Dataframe keeps the row
        # count of the first value streamed into it (later rows never showed).
        hidden = (gr.skip(),) * 3
        yield *hidden, text["cmp_probe_progress"].format(count=0), None, gr.skip()
        for rows in compare.probe_table(run_id, probe_questions(questions, text),
                                        other_image or None, after):
            yield *hidden, text["cmp_probe_progress"].format(count=len(rows)), None, gr.skip()
        yield (probe_summary_frame(rows, text), gr.skip(),
               probe_frame(rows, text), "", str(compare.probe_csv(rows, run_id)), rows)

    def load_timeline(run_id, request: gr.Request):
        if not run_id:
            raise user_error(messages_for(request)["cmp_pick_run"], language_of(request))
        entries = compare.timeline(run_id)
        frame = timeline_frame(entries, messages_for(request))
        if frame.empty:
            gr.Info(messages_for(request)["cmp_timeline_empty"])
        return frame, entries

    def export_archive(run_id, after, request: gr.Request):
        if not run_id:
            raise user_error(messages_for(request)["cmp_pick_run"], language_of(request))
        archive = compare.export(run_id, after)
        return str(archive), compare.export_command()

    check = _readable_run(services)
    answer_outputs = [tab.base, tab.finetuned, tab.base_score, tab.finetuned_score,
                      tab.reference, tab.diff, tab.history]
    tab.refresh.click(choices, outputs=tab.run, api_visibility="private")
    tab.run.change(guarded(after_choices, check), inputs=tab.run,
                   outputs=[tab.after, tab.history],
                   api_visibility="private")
    tab.ask.click(guarded(ask, check), inputs=[tab.run, tab.after, tab.image, tab.question,
                                         tab.history], outputs=answer_outputs, **MODELS)
    tab.question.submit(guarded(ask, check), inputs=[tab.run, tab.after, tab.image, tab.question,
                                               tab.history], outputs=answer_outputs, **MODELS)
    tab.new_chat.click(new_chat, outputs=answer_outputs, api_visibility="private")
    tab.probe.click(guarded(run_probes, check), inputs=[tab.run, tab.after, tab.probe_questions,
                                                  tab.probe_image],
                    outputs=[tab.probe_table, tab.probe_results, tab.probe_details_table,
                             tab.probe_progress, tab.probe_csv, tab.probe_rows], **MODELS)
    tab.timeline_button.click(guarded(load_timeline, check), inputs=tab.run,
                              outputs=[tab.timeline, tab.timeline_entries],
                              api_visibility="private")
    tab.export_button.click(guarded(export_archive, check), inputs=[tab.run, tab.after],
                            outputs=[tab.export_file, tab.export_command], **MODELS)


def messages_for(request: gr.Request | None) -> dict:
    """Strings built into values (tables, scores) follow the page's language:
    the on-page switch's cookie, else the browser's, like the labels."""
    return messages.TABLES.get(language_of(request), messages.TABLES["en"])
