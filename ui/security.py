"""Request filtering in front of gradio's own routes.

* gradio 6.17.3 answers ``/gradio_api/file=http://...`` (and the older
  ``/gradio_api/file/http://...``) with a redirect to any site (gradio issue
  #13608, an open redirect on a shared link). Refuse such file routes before
  gradio sees them.
* A run's files leave through gradio's file cache, whose URLs any logged-in
  user may fetch: the exported model (``run-<id>-llava.zip``) and the probe
  scores (``run-<id>-scores.csv``). Their names start with the run id
  (backend/compare/service.py), so only those who may read that run get them; the
  others get the same 404 as for a file that does not exist.
* gradio's ``/monitoring`` routes: ``/monitoring/summary`` answers without
  login (endpoint names, counts, timings). The app has no use for them, so
  they are closed for everybody (404, as for a route that does not exist).
"""
from __future__ import annotations

import posixpath
import re
from typing import Callable
from urllib.parse import unquote

from starlette.middleware import Middleware
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse

from backend.runs.spec import RUN_ID_PATTERN

# gradio serves its cache at /file=PATH and (deprecated, still routed) /file/PATH.
_FILE_ROUTE = re.compile(r"^(/gradio_api)?/file[=/](.*)$", re.IGNORECASE | re.DOTALL)
_RUN_FILE_NAME = re.compile(rf"^({RUN_ID_PATTERN})(?![0-9a-z])", re.IGNORECASE)

# gradio routes the app never uses and that tell a visitor too much.
_CLOSED_ROUTE = re.compile(r"^/+monitoring(/|$)", re.IGNORECASE)

# (username or None, run id) -> may this user read that run?
RunReadable = Callable[[str | None, str], bool]


def _file_target(path: str) -> str | None:
    """What a file route asks gradio for (decoded), else None."""
    match = _FILE_ROUTE.match(unquote(unquote(path)))
    return match.group(2) if match else None


def refused_file_target(path: str) -> bool:
    """True for a file route that points at a URL (any scheme)."""
    target = _file_target(path)
    if target is None:
        return False
    target = target.strip().lower()
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target)) or target.startswith("//")


def run_of_file(path: str) -> str | None:
    """The run id a file route's file name starts with, else None. The name is
    taken as gradio resolves it (a trailing slash or ``..`` changes nothing)."""
    target = _file_target(path)
    if target is None:
        return None
    target = target.split("?", 1)[0].replace("\\", "/")
    name = posixpath.basename(posixpath.normpath("/" + target))
    run = _RUN_FILE_NAME.match(name)
    return run.group(1).lower() if run else None


def closed_route(path: str) -> bool:
    """True for /monitoring and everything under it, however spelled."""
    return bool(_CLOSED_ROUTE.match(unquote(unquote(path))))


def gradio_user(scope) -> str | None:
    """The logged-in user, read the way gradio's own /user route does:
    its login cookie looked up in the app's token table (None without login)."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if not tokens:
        return None
    headers = dict(scope.get("headers") or [])
    cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
    token = (cookies.get(f"access-token-{cookie_id}")
             or cookies.get(f"access-token-unsecure-{cookie_id}"))
    return tokens.get(token)


class FileRouteGuard:
    """Pure ASGI middleware (streaming responses pass through untouched)."""

    def __init__(self, app, run_readable: RunReadable | None = None):
        self.app = app
        self.run_readable = run_readable

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            raw = scope.get("raw_path")
            path = raw.decode("latin-1") if raw else scope.get("path", "")
            refusal = self._refusal(scope, path)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope, path: str) -> PlainTextResponse | None:
        if closed_route(path):
            return PlainTextResponse("Not found.", status_code=404)
        if refused_file_target(path):
            return PlainTextResponse("URLs are not served here.", status_code=403)
        run_id = run_of_file(path) if self.run_readable else None
        if run_id and not self.run_readable(gradio_user(scope), run_id):
            return PlainTextResponse("Not found.", status_code=404)
        return None


def middleware(run_readable: RunReadable | None = None) -> list[Middleware]:
    return [Middleware(FileRouteGuard, run_readable=run_readable)]
