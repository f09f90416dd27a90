"""Backend exceptions -> messages a person can act on (never a traceback)."""
from __future__ import annotations

import gradio as gr


def user_error(error: Exception | str) -> gr.Error:
    """A gr.Error with the backend's message (our exceptions are written for users)."""
    return gr.Error(str(error), print_exception=False)
