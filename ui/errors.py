"""Backend exceptions -> messages a person can act on (never a traceback)."""
from __future__ import annotations

import gradio as gr


def user_error(error: Exception | str, lang: str = "en") -> gr.Error:
    """A gr.Error with the backend's message (our exceptions are written for users),
    in lang where the error has a message of its own in ui/messages.py."""
    from .messages import tr

    return gr.Error(localized(error, lang), title=tr("toast_error", lang), print_exception=False)


def localized(error: Exception | str, lang: str = "en") -> str:
    """An error's text in lang: errors with a ``message_key`` (limits, quota, a
    full disk) are said from the messages table, others as the backend wrote them."""
    from .messages import TABLES, tr

    key = getattr(error, "message_key", None)
    if key and key in TABLES["en"]:
        return tr(key, lang, **getattr(error, "message_fields", {}))
    return str(error)
