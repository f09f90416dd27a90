"""The teacher's class board: the "Class" tab (shown to teachers only) and
presenter mode for the projector, a page of its own at /board (the whole
class) or /board?run=run-… (one run): large type, no controls.

Who sees it: a teacher; without logins, the single local user (who already
sees every run). Everyone else gets no tab, and /board answers with a
sentence. Both views refresh on a gr.Timer and send nothing when the board
has not changed since this page last got it.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from backend.runs.class_board import board_rows, may_see_board
from backend.services import Services

from . import language
from .auth import user_of
from .class_board_view import board_html, run_card_html, sentence_html
from .messages import t, tr

REFRESH_S = 3.0
PRESENTER_PATH = "/board"


def hide_navbar(app: gr.Blocks) -> None:
    """No navigation bar on this page (a second page makes gradio show one).
    gradio 6.17.3 ignores ``gr.Navbar(visible=False)`` until an event hides it
    (gradio issue #12532), so the page's load hides it."""
    navbar = gr.Navbar(visible=True)
    app.load(lambda: gr.Navbar(visible=False), outputs=navbar, api_visibility="private",
             show_progress="hidden")


@dataclass
class ClassTab:
    board: gr.HTML
    shown: gr.State  # the HTML this page has now: an unchanged board is not resent
    timer: gr.Timer


def build_class_tab() -> ClassTab:
    gr.Markdown(t("board_intro"))
    board = gr.HTML(elem_id="class-board")
    return ClassTab(board, gr.State(""), gr.Timer(REFRESH_S, active=False))


def _board(services: Services, user: str | None, lang: str, run_id: str | None = None,
           large: bool = False) -> str:
    """The board's HTML for a user allowed to see it."""
    visible = [run["run_id"] for run in services.access.visible_runs(user)]
    if run_id is not None:
        rows = board_rows(services.jobs, services.device,
                          [run_id] if run_id in visible else [])
        if not rows:
            return sentence_html(tr("board_unknown_run", lang, run_id=run_id))
        return run_card_html(rows[0], lang)
    return board_html(board_rows(services.jobs, services.device, visible), lang,
                      large=large, link_runs=not large)


def _changed(html: str, shown: str):
    return (gr.skip(), gr.skip()) if html == shown else (html, html)


def wire_class_tab(parts: ClassTab, tab: gr.Tab, services: Services, app: gr.Blocks) -> None:
    accounts = services.access.accounts

    def on_load(request: gr.Request):
        user = user_of(request)
        if not may_see_board(accounts, user):
            return gr.update(visible=False), gr.Timer(active=False), "", ""
        html = _board(services, user, language.language_of(request))
        return gr.update(visible=True), gr.Timer(active=True), html, html

    def refresh(shown: str, request: gr.Request):
        user = user_of(request)
        if not may_see_board(accounts, user):
            return gr.skip(), gr.skip()
        return _changed(_board(services, user, language.language_of(request)), shown)

    app.load(on_load, outputs=[tab, parts.timer, parts.board, parts.shown],
             api_visibility="private")
    parts.timer.tick(refresh, inputs=parts.shown, outputs=[parts.board, parts.shown],
                     api_visibility="private", show_progress="hidden")


def build_presenter_page(app: gr.Blocks, services: Services) -> None:
    """/board: the board alone, for the projector (call outside ``with app``)."""
    accounts = services.access.accounts
    # The page's name is for gradio's navigation bar, where it is not shown.
    with app.route("board", PRESENTER_PATH, show_in_navbar=False):
        hide_navbar(app)
        board = gr.HTML(elem_id="presenter-board")
        shown = gr.State("")
        timer = gr.Timer(REFRESH_S, active=False)

        def view(request: gr.Request) -> str | None:
            """The page's HTML, or None when this visitor may not see the board."""
            user, lang = user_of(request), language.language_of(request)
            if not may_see_board(accounts, user):
                return None
            run_id = (getattr(request, "query_params", None) or {}).get("run") or None
            return _board(services, user, lang, run_id=run_id, large=True)

        def on_load(request: gr.Request):
            html = view(request)
            if html is None:
                refusal = sentence_html(tr("board_refused", language.language_of(request)))
                return refusal, refusal, gr.Timer(active=False)
            return html, html, gr.Timer(active=True)

        def refresh(shown: str, request: gr.Request):
            html = view(request)
            return (gr.skip(), gr.skip()) if html is None else _changed(html, shown)

        app.load(on_load, outputs=[board, shown, timer], api_visibility="private")
        timer.tick(refresh, inputs=shown, outputs=[board, shown], api_visibility="private",
                   show_progress="hidden")
