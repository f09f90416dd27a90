"""The one guard between the page (and the API) and the backend.

Every event handler and endpoint goes through ``guarded``: the access check
first, then a user-facing backend error becomes a gr.Error with its message.
ValueError and KeyError come from what a client sent (JSON that does not parse,
an unknown key); anything else is a bug and keeps gradio's generic error.
"""
from __future__ import annotations

import functools
import inspect
from typing import Callable

from backend.errors import StudioError

from .errors import user_error

USER_ERRORS = (StudioError, ValueError, KeyError)


def message_of(error: Exception):
    """What to show: a KeyError's own text, not its quoted repr."""
    return error.args[0] if isinstance(error, KeyError) and error.args else error


def guarded(fn: Callable, check: Callable[[tuple], None] | None = None,
            message: Callable[[Exception, tuple], str] | None = None) -> Callable:
    """``fn`` (a plain or a generator handler) with ``check(args)`` before it and
    user errors shown as gr.Error (``message(error, args)`` words them, when given).
    functools.wraps keeps the signature, so gradio still passes gr.Request."""

    def shown(error: Exception, args: tuple):
        return user_error(message(error, args) if message else message_of(error))

    if inspect.isgeneratorfunction(fn):
        # A generator function of its own, so gradio streams each yield.
        @functools.wraps(fn)
        def stream(*args):
            try:
                if check is not None:
                    check(args)
                yield from fn(*args)
            except USER_ERRORS as error:
                raise shown(error, args)
        return stream

    @functools.wraps(fn)
    def call(*args):
        try:
            if check is not None:
                check(args)
            return fn(*args)
        except USER_ERRORS as error:
            raise shown(error, args)
    return call
