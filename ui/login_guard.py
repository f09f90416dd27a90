"""gradio's /login with throttling (backend/access/login_throttle.py) and a log line per failure.

gradio calls the auth function with the username and password only. The
client's address comes from the ASGI scope: ``ClientAddress`` (middleware)
puts it in a context variable for the request, which the auth function,
called inside gradio's login route in the same task, reads. The address is
the TCP peer: behind a reverse proxy every student shares the proxy's, so
raise ``--login-failures`` there (X-Forwarded-For is not trusted: a client
could write any address into it and escape the count).
"""
from __future__ import annotations

import contextvars
import logging
import math
from typing import Callable

from fastapi import HTTPException
from starlette.middleware import Middleware

from backend.access.login_throttle import LoginThrottle

log = logging.getLogger("studio.login")
_client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "client_address", default=None)
_LOGGED_NAME_CHARS = 80


class ClientAddress:
    """Pure ASGI middleware: the request's client address, for the auth function."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = _client_address.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            _client_address.reset(token)


def throttled_auth(check: Callable[[str, str], bool],
                   throttle: LoginThrottle) -> Callable[[str, str], bool]:
    """gradio's auth callback: refuses (HTTP 429, Retry-After) while the
    username or the address is cooling down; logs every failure with both,
    never the password."""
    def auth(username: str, password: str) -> bool:
        address = _client_address.get()
        name = username[:_LOGGED_NAME_CHARS]
        wait = throttle.retry_after(username, address)
        if wait > 0:
            seconds = math.ceil(wait)
            log.warning("login refused, too many failed logins: user %r from %s "
                        "(%d s of cool-down left)", name, address, seconds)
            raise HTTPException(status_code=429, headers={"Retry-After": str(seconds)},
                                detail=f"Too many failed logins; try again in {seconds} s.")
        if check(username, password):
            return True
        throttle.failed(username, address)
        log.warning("failed login: user %r from %s", name, address)
        return False
    return auth


def login_middleware() -> list[Middleware]:
    return [Middleware(ClientAddress)]
