"""Tab 3: the same image and question to the Pretrain and Finetune models."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from backend.chat import ChatError
from backend.images import ImageError
from backend.jobs import JobError
from backend.model_builder import ModelsNotReady
from backend.services import Services

from .errors import user_error
from .messages import t

COMPARE_ERRORS = (ChatError, ImageError, JobError, ModelsNotReady)


@dataclass
class CompareTab:
    run: gr.Dropdown
    refresh: gr.Button
    image: gr.Image
    question: gr.Textbox
    ask: gr.Button
    base: gr.Textbox
    finetuned: gr.Textbox


def build_compare_tab() -> CompareTab:
    with gr.Row():
        run = gr.Dropdown(label=t("compare_run"), choices=[], interactive=True)
        refresh = gr.Button(t("refresh"), size="sm")
    with gr.Row():
        image = gr.Image(label=t("compare_image"), type="filepath", height=260)
        with gr.Column():
            question = gr.Textbox(label=t("compare_question"), lines=2)
            ask = gr.Button(t("compare_button"), variant="primary")
    with gr.Row():
        base = gr.Textbox(label=t("base_answer"), lines=5, interactive=False)
        finetuned = gr.Textbox(label=t("finetuned_answer"), lines=5, interactive=False)
    return CompareTab(run, refresh, image, question, ask, base, finetuned)


def done_runs(services: Services) -> list[str]:
    return [r["run_id"] for r in reversed(services.jobs.list_runs()) if r["state"] == "done"]


def wire_compare_tab(tab: CompareTab, services: Services) -> None:
    def choices():
        runs = done_runs(services)
        return gr.update(choices=runs, value=runs[0] if runs else None)

    def ask(run_id, image, question):
        if not run_id:
            raise user_error("Pick a finished run first.")
        if not image:
            raise user_error("Upload an image first.")
        try:
            for partial in services.compare.stream(run_id, image, question):
                yield partial["base"], partial["finetuned"]
        except COMPARE_ERRORS as error:
            raise user_error(error)

    tab.refresh.click(choices, outputs=tab.run, api_visibility="private")
    tab.ask.click(ask, inputs=[tab.run, tab.image, tab.question],
                  outputs=[tab.base, tab.finetuned], api_visibility="private",
                  concurrency_id="models", concurrency_limit=1)
