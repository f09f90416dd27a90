"""The page header's GPU warning: a GPU that torch cannot use (backend/training/gpu_check.py).

Fixed at start-up, so the sentence is in the served page from the first byte
(English) and follows the page's language on load and on the language switch.
"""
from __future__ import annotations

import gradio as gr

from backend.services import Services

from . import language
from .messages import tr


def gpu_warnings(services: Services, lang: str = "en") -> list[str]:
    """The start-up check's sentences in lang (/models_status's `warnings`)."""
    problem = services.gpu_problem
    return [tr("gpu_unusable", lang, **problem.fields())] if problem else []


def gpu_warning_markdown(services: Services, lang: str = "en") -> str:
    return "\n\n".join(f"⚠️ **{text}**" for text in gpu_warnings(services, lang))


def build_gpu_warning(services: Services) -> gr.Markdown:
    return gr.Markdown(gpu_warning_markdown(services), elem_id="gpu-warning",
                       visible=services.gpu_problem is not None)


def wire_gpu_warning(box: gr.Markdown, services: Services, app: gr.Blocks,
                     lang_switch: gr.Radio) -> None:
    if services.gpu_problem is None:
        return

    def on_load(request: gr.Request):
        return gpu_warning_markdown(services, language.language_of(request))

    app.load(on_load, outputs=box, api_visibility="private")
    lang_switch.input(lambda code: gpu_warning_markdown(services, language.table_of(code)),
                      inputs=lang_switch, outputs=box, api_visibility="private",
                      show_progress="hidden")
