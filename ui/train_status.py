"""The Finetune tab's live view of one run: phase, progress bar, which buttons can act.
Pure functions of backend/runs/status.py's result and a language."""
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



# After each refresh, in the browser: keep the log scrolled to its newest line,
# unless the student has scrolled up to read (then leave it until they scroll
# back down). gradio's own autoscroll misses updates made while the textarea
# was out of view (another tab), which left the log at its top.
FOLLOW_LOG_JS = """
() => {
  const box = document.querySelector("#run-log textarea");
  if (!box) return [];
  const state = window.studioLogFollow
      || (window.studioLogFollow = {follow: true, box: null, touched: 0});
  if (state.box !== box) {
    state.box = box;
    // Only the student's own scrolling decides (a new value may reset scrollTop).
    for (const kind of ["wheel", "touchmove", "keydown", "mousedown"]) {
      box.addEventListener(kind, () => { state.touched = Date.now(); }, {passive: true});
    }
    box.addEventListener("scroll", () => {
      if (Date.now() - state.touched < 1500) {
        state.follow = box.scrollTop + box.clientHeight >= box.scrollHeight - 24;
      }
    });
  }
  if (state.follow) box.scrollTop = box.scrollHeight;
  return [];
}
"""
