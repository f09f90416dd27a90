"""Request filtering in front of gradio's own routes.

gradio 6.17.3 answers ``/gradio_api/file=http://...`` with a redirect to any
site (gradio issue #13608, an open redirect on a shared link). Refuse such
file routes before gradio sees them.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

_FILE_ROUTE = re.compile(r"^(/gradio_api)?/file=(.*)$", re.IGNORECASE | re.DOTALL)


def refused_file_target(path: str) -> bool:
    """True for a file route that points at a URL (any scheme)."""
    match = _FILE_ROUTE.match(unquote(unquote(path)))
    if not match:
        return False
    target = match.group(2).strip().lower()
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target)) or target.startswith("//")


class FileRouteGuard:
    """Pure ASGI middleware (streaming responses pass through untouched)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            raw = scope.get("raw_path")
            path = raw.decode("latin-1") if raw else scope.get("path", "")
            if refused_file_target(path):
                response = PlainTextResponse("URLs are not served here.", status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def middleware() -> list[Middleware]:
    return [Middleware(FileRouteGuard)]
