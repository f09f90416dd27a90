"""The class board as HTML (server-rendered, no gradio): a table of rows from
backend/class_board.py, each with an inline SVG loss sparkline; larger type
for presenter mode; one run alone as a big card.

Every text that comes from a user or a run (owner, run id) is escaped,
including the characters of gradio's HTML templates (``$ { }``).
"""
from __future__ import annotations

import html
from urllib.parse import quote

from backend.runs.class_board import BoardRow

from .messages import TABLES, tr

_TEMPLATE_CHARS = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"})


def esc(text) -> str:
    return html.escape(str(text), quote=True).translate(_TEMPLATE_CHARS)


def sparkline_svg(losses, width: int = 120, height: int = 28, label: str = "") -> str:
    """An inline SVG polyline of the loss curve (y grows downward: lower loss
    sits lower); "–" with fewer than two points."""
    values = [float(v) for v in losses]
    if len(values) < 2:
        return "–"
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    stroke = 2 if height < 100 else 4  # the projector's wide curve, read from the back row
    pad = stroke
    step = (width - 2 * pad) / (len(values) - 1)
    points = " ".join(
        f"{pad + i * step:.1f},{pad + (high - v) / span * (height - 2 * pad):.1f}"
        for i, v in enumerate(values))
    return (f'<svg class="sparkline" width="{width}" height="{height}" '
            'style="max-width:100%;height:auto" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">'
            f'<polyline fill="none" stroke="currentColor" stroke-width="{stroke}" '
            f'points="{points}"/></svg>')


def _owner(row: BoardRow, lang: str) -> str:
    return esc(row.owner) if row.owner else esc(tr("board_local_user", lang))


def _loss(row: BoardRow) -> str:
    return "–" if row.loss is None else f"{row.loss:.4f}"


def _iteration(row: BoardRow) -> str:
    return f"{row.iter} / {row.max_iters}"


def _state(row: BoardRow, lang: str) -> str:
    key = f"state_{row.state}"
    return esc(tr(key, lang) if key in TABLES["en"] else row.state)


_COLUMNS = ("board_col_run", "board_col_owner", "board_col_state", "board_col_iter",
            "board_col_loss", "board_col_curve", "board_col_queue", "board_col_device")


def board_html(rows: list[BoardRow], lang: str = "en", *, large: bool = False,
               link_runs: bool = False) -> str:
    """The whole class as one table; ``large`` for the projector;
    ``link_runs`` makes each run id a link to its presenter view."""
    if not rows:
        return f'<p class="board-empty">{esc(tr("board_empty", lang))}</p>'
    size = "1.9rem" if large else "1rem"
    spark = (180, 44) if large else (120, 28)
    cell = "padding:0.3em 0.6em;text-align:left;border-bottom:1px solid #8884"
    head = "".join(f'<th style="{cell}">{esc(tr(key, lang))}</th>' for key in _COLUMNS)
    body = []
    for row in rows:
        run = esc(row.run_id)
        if large:  # the id is for looking a run up, the rest is read from the back row
            run = f'<span style="font-size:0.6em;white-space:nowrap">{run}</span>'
        if link_runs:
            run = f'<a href="board?run={esc(quote(row.run_id))}">{run}</a>'
        cells = (run, _owner(row, lang), _state(row, lang), _iteration(row), _loss(row),
                 sparkline_svg(row.losses, *spark, label=tr("board_col_curve", lang)),
                 "–" if row.queue_position is None else str(row.queue_position),
                 esc(row.device))
        body.append(f'<tr data-run="{esc(row.run_id)}" data-state="{esc(row.state)}">'
                    + "".join(f'<td style="{cell}">{c}</td>' for c in cells) + "</tr>")
    return (f'<table class="class-board" style="font-size:{size};border-collapse:collapse;'
            f'width:100%"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f'</table>')


def run_card_html(row: BoardRow, lang: str = "en") -> str:
    """One run on the projector: the owner, state, progress and a wide curve."""
    label = lambda key: esc(tr(key, lang))  # noqa: E731
    facts = [("board_col_state", _state(row, lang)), ("board_col_iter", _iteration(row)),
             ("board_col_loss", _loss(row)),
             ("board_col_queue", "–" if row.queue_position is None else str(row.queue_position)),
             ("board_col_device", esc(row.device))]
    items = "".join(f'<div><span style="opacity:0.7">{label(key)}</span> '
                    f'<b>{value}</b></div>' for key, value in facts)
    return (f'<div class="class-board run-card" data-run="{esc(row.run_id)}" '
            f'data-state="{esc(row.state)}" style="font-size:2.4rem;line-height:1.4">'
            f'<div style="font-size:3rem;font-weight:bold">{_owner(row, lang)}</div>'
            f'<div style="opacity:0.7">{esc(row.run_id)}</div>{items}'
            f'<div>{sparkline_svg(row.losses, 900, 240, tr("board_col_curve", lang))}</div>'
            f'</div>')


def sentence_html(text: str) -> str:
    """A plain sentence in presenter type (a refusal, an unknown run)."""
    return f'<p class="board-message" style="font-size:2rem">{esc(text)}</p>'
