"""The Finetune tab's live view of one run: phase, progress bar, which buttons can act.
Pure functions of backend/run_status.py's result and a language."""
from __future__ import annotations

import html

import gradio as gr

from .messages import tr

STOPPABLE = ("queued", "running", "converting")
RESUMABLE = ("stopped", "failed")


def phase_text(phase: str | None, lang: str) -> str:
    return tr("phase_" + phase.replace(" ", "_"), lang) if phase else ""


def progress_html(status: dict | None, lang: str) -> str:
    """A bar for the whole run (start-up and conversion included), or nothing."""
    if not status or status.get("progress") is None:
        return ""
    percent = round(100 * status["progress"])
    label = html.escape(tr("progress_label", lang))
    phase = html.escape(phase_text(status.get("phase"), lang))
    # Inline styles: the bar needs no page-wide CSS.
    return (f'<div id="run-progress" role="progressbar" aria-valuemin="0" '
            f'aria-valuemax="100" aria-valuenow="{percent}" aria-label="{label}" '
            f'style="height:10px;border-radius:5px;background:#e5e7eb;overflow:hidden">'
            f'<div style="height:100%;width:{percent}%;background:#f97316;'
            f'transition:width .5s"></div></div>'
            f'<small>{label}: {percent}%{" · " + phase if phase else ""}</small>')


def buttons(status: dict | None) -> tuple[dict, dict]:
    """Stop and Resume, each enabled only when it would do something."""
    state = (status or {}).get("state", "")
    can_stop = state in STOPPABLE and not (status or {}).get("stopping")
    return gr.update(interactive=can_stop), gr.update(interactive=state in RESUMABLE)

