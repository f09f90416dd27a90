"""An image input whose unreadable upload reaches our handler.

gr.Image decodes an upload with Pillow before any handler runs; a corrupt or
non-image file then fails inside gradio, which shows red "Error" badges and no
reason. This one hands such a file on as a path, so the upload handler can say
in the page's language what is wrong (backend.data.images.open_checked).

Wrapped per instance, not subclassed: gradio writes a .pyi stub next to the
source of every component subclass, which fails in a read-only install."""
from __future__ import annotations

import functools

import gradio as gr


def checked_image(**kwargs) -> gr.Image:
    """gr.Image(**kwargs) that passes an undecodable upload on as its path."""
    image = gr.Image(**kwargs)
    decode = image.preprocess

    @functools.wraps(decode)
    def preprocess(payload):
        try:
            return decode(payload)
        except (OSError, ValueError, SyntaxError):  # PIL.UnidentifiedImageError is an OSError
            return str(payload.path) if payload is not None and payload.path else None

    image.preprocess = preprocess
    return image
