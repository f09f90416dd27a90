"""A real gr.Request for handlers called directly, in a browser's language."""
import gradio as gr
from starlette.requests import Request


def request_in(language: str, username: str | None = None) -> gr.Request:
    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(b"accept-language", language.encode())]}
    return gr.Request(request=Request(scope), username=username)
