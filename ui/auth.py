"""Who is asking: the logged-in user from gradio's request (None without auth)."""
from __future__ import annotations

import gradio as gr


def user_of(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) if request is not None else None
