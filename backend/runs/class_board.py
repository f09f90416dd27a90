"""The teacher's class board: every run of the class in one table, as data.

One row a run: owner, state, iteration / total, current loss, the loss curve
(thinned to a few points for a sparkline), queue position and the device the
run is using. The UI (ui/class_board.py) renders it; nothing here knows HTML.
"""
from __future__ import annotations

from dataclasses import dataclass

from backend.runs.jobs import JobError

NO_DEVICE = "–"
# Points kept of a loss curve: enough for its shape in a small sparkline.
SPARK_POINTS = 60
# Order on the board: what holds the device now, then the queue, then the rest.
_ACTIVE = ("running", "stopping", "converting")


@dataclass(frozen=True)
class BoardRow:
    run_id: str
    owner: str
    state: str
    iter: int
    max_iters: int
    loss: float | None
    losses: tuple[float, ...]
    queue_position: int | None
    device: str
    created_at: float


def may_see_board(accounts, user: str | None) -> bool:
    """Teachers see the board; without logins the single local user does too
    (they already see every run, and are the one at the projector)."""
    return not accounts.enabled or (bool(user) and accounts.role(user) == "teacher")


def thin(values: list[float], keep: int = SPARK_POINTS) -> tuple[float, ...]:
    """At most ``keep`` values, evenly spread, the first and last always kept."""
    if len(values) <= keep:
        return tuple(values)
    step = (len(values) - 1) / (keep - 1)
    return tuple(values[round(i * step)] for i in range(keep))


def _order(row: BoardRow) -> tuple:
    if row.state in _ACTIVE:
        return (0, 0, -row.created_at)
    if row.state == "queued":
        return (1, row.queue_position or 0, row.created_at)
    return (2, 0, -row.created_at)


def board_rows(jobs, device: str, run_ids: list[str] | None = None) -> list[BoardRow]:
    """The board of ``run_ids`` (default: every run), active first, then the
    queue in its order, then the others newest first. A run using a device
    shows the one it was placed on ("cuda:1"); ``device`` ("cpu", "cuda") is
    the fallback for a snapshot that names none."""
    wanted = None if run_ids is None else set(run_ids)
    rows = []
    for run in jobs.list_runs():
        if wanted is not None and run["run_id"] not in wanted:
            continue
        try:
            snap = jobs.snapshot(run["run_id"])
        except JobError:  # deleted between the list and the read: not on the board
            continue
        rows.append(BoardRow(
            run_id=snap["run_id"], owner=snap["owner"], state=snap["state"],
            iter=snap["iter"], max_iters=snap["max_iters"], loss=snap["loss"],
            losses=thin([loss for _i, loss in snap["losses"]]),
            queue_position=snap["queue_position"],
            device=(snap.get("device") or device) if snap["state"] in _ACTIVE else NO_DEVICE,
            created_at=snap["created_at"] or 0.0))
    return sorted(rows, key=_order)
