"""The one guard between the page (and the API) and the backend.

Every event handler and endpoint goes through ``guarded``: the access check
first, then a user-facing backend error becomes a gr.Error with its message.
ValueError and KeyError come from what a client sent (JSON that does not parse,
an unknown key); anything else is a bug and keeps gradio's generic error.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Callable, ContextManager

import gradio as gr

from backend.errors import StudioError

from .errors import localized, user_error
from .language import language_of
from .messages import tr

USER_ERRORS = (StudioError, ValueError, KeyError)


def message_of(error: Exception):
    """What to show: a KeyError's own text, not its quoted repr."""
    return error.args[0] if isinstance(error, KeyError) and error.args else error


def worded(key: str) -> Callable[[Exception, tuple], str]:
    """A ``message`` for guarded: the page's sentence ``key`` ("could not start:
    {error}") around the error, both in the page's language."""
    def message(error: Exception, args: tuple) -> str:
        request = args[-1] if args and isinstance(args[-1], gr.Request) else None
        lang = language_of(request) if request is not None else "en"
        return tr(key, lang, error=localized(message_of(error), lang))
    return message


def guarded(fn: Callable, check: Callable[[tuple], None] | None = None,
            message: Callable[[Exception, tuple], str] | None = None,
            hold: Callable[[tuple], ContextManager] | None = None) -> Callable:
    """``fn`` (a plain or a generator handler) with ``check(args)`` before it,
    inside ``hold(args)`` while it runs, and user errors shown as gr.Error in the
    page's language (``message(error, args)`` words them, when given).
    functools.wraps keeps the signature, so gradio still passes gr.Request."""

    def shown(error: Exception, args: tuple):
        request = args[-1] if args and isinstance(args[-1], gr.Request) else None
        return user_error(message(error, args) if message else message_of(error),
                          language_of(request) if request is not None else "en")

    def holding(args: tuple):
        return hold(args) if hold is not None else contextlib.nullcontext()

    if inspect.isgeneratorfunction(fn):
        # A generator function of its own, so gradio streams each yield.
        @functools.wraps(fn)
        def stream(*args):
            try:
                if check is not None:
                    check(args)
                with holding(args):
                    yield from fn(*args)
            except USER_ERRORS as error:
                raise shown(error, args)
        return stream

    @functools.wraps(fn)
    def call(*args):
        try:
            if check is not None:
                check(args)
            with holding(args):
                return fn(*args)
        except USER_ERRORS as error:
            raise shown(error, args)
    return call
