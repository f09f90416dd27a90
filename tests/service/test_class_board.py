"""The teacher's class board: its data (backend/class_board.py) and its HTML
(ui/class_board_view.py); the data also from a real JobManager and fake trainer."""
import dataclasses
import re

import pytest

from backend.access.accounts import Account, Accounts
from backend.runs.class_board import (NO_DEVICE, SPARK_POINTS, BoardRow, board_rows, may_see_board,
                                      thin)
from backend.runs.jobs import JobManager
from backend.runs.registry import RunRegistry
from tests.support.jobs import spec_for, wait_for, wait_iter
from ui.class_board_view import board_html, run_card_html, sentence_html, sparkline_svg
from ui.messages import tr


def row(run_id="run-1", owner="alice", state="running", **fields) -> BoardRow:
    values = dict(run_id=run_id, owner=owner, state=state, iter=3, max_iters=10, loss=1.25,
                  losses=(2.0, 1.5, 1.25), queue_position=None, device="cpu",
                  created_at=100.0)
    return BoardRow(**{**values, **fields})


# ---- data -------------------------------------------------------------------

def test_thin_keeps_the_ends_and_at_most_the_points_asked():
    values = [float(i) for i in range(1000)]
    kept = thin(values)
    assert len(kept) == SPARK_POINTS and kept[0] == 0.0 and kept[-1] == 999.0
    assert list(kept) == sorted(kept)
    assert thin([3.0, 2.0]) == (3.0, 2.0)


def test_teachers_see_the_board_students_do_not_and_without_logins_the_local_user_does():
    accounts = Accounts([Account("t", "pw", "teacher"), Account("s", "pw", "student")])
    assert may_see_board(accounts, "t")
    assert not may_see_board(accounts, "s")
    assert not may_see_board(accounts, None)
    assert not may_see_board(accounts, "nobody")
    assert may_see_board(Accounts([]), None)


class ListedRuns:
    """The two reads board_rows makes of a JobManager, from fixed snapshots
    (the real manager is in the test below)."""

    def __init__(self, snaps, active=None):
        self.snaps, self.active = snaps, active

    def list_runs(self):
        return [{"run_id": s["run_id"]} for s in self.snaps]

    def snapshot(self, run_id):
        return next(s for s in self.snaps if s["run_id"] == run_id)

    def active_run(self):
        return self.active

    def training_run(self):
        return self.active


def snap(run_id, state, created, position=None, losses=()):
    return {"run_id": run_id, "owner": "o", "state": state, "iter": len(losses),
            "max_iters": 10, "loss": losses[-1][1] if losses else None,
            "losses": [list(p) for p in losses], "queue_position": position,
            "created_at": created}


def test_active_first_then_the_queue_in_its_order_then_newest_first():
    jobs = ListedRuns([snap("run-old-done", "done", 1), snap("run-q2", "queued", 5, 2),
                       snap("run-new-failed", "failed", 9), snap("run-q1", "queued", 6, 1),
                       snap("run-active", "running", 2)], active="run-active")
    rows = board_rows(jobs, "cuda")
    assert [r.run_id for r in rows] == ["run-active", "run-q1", "run-q2", "run-new-failed",
                                        "run-old-done"]
    assert [r.device for r in rows] == ["cuda"] + [NO_DEVICE] * 4
    assert [r.run_id for r in board_rows(jobs, "cuda", ["run-q2", "run-old-done"])] == \
        ["run-q2", "run-old-done"]


# ---- HTML -------------------------------------------------------------------

def test_every_text_is_escaped_including_gradios_template_characters():
    hostile = '<img src=x onerror=alert(1)>${document.cookie}{{x}}"'
    page = board_html([row(owner=hostile, run_id="run-<b>")], "en", link_runs=True)
    assert "<img" not in page and "<b>" not in page
    assert "${" not in page and "{{" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    card = run_card_html(row(owner=hostile), "en")
    assert "<img" not in card and "${" not in card
    assert "<script" not in sentence_html("<script>x</script>")


def test_the_sparkline_draws_each_loss_lower_as_it_falls():
    svg = sparkline_svg([3.0, 2.0, 1.0], width=100, height=20)
    points = [tuple(map(float, p.split(","))) for p in
              re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert len(points) == 3
    xs, ys = zip(*points)
    assert list(xs) == sorted(xs) and xs[0] >= 0 and xs[-1] <= 100
    assert ys[0] < ys[1] < ys[2] <= 20  # SVG's y grows downward: a falling loss goes down
    assert sparkline_svg([1.0]) == "–" and sparkline_svg([]) == "–"
    assert "<polyline" in sparkline_svg([1.0, 1.0])  # a flat curve still draws


def test_rows_keep_their_order_and_states_are_in_the_pages_language():
    rows = [row("run-a", state="running"), row("run-b", state="queued", queue_position=1,
                                               device=NO_DEVICE, losses=()),
            row("run-c", state="done", device=NO_DEVICE)]
    zh = board_html(rows, "zh")
    assert re.findall(r'data-run="([^"]+)"', zh) == ["run-a", "run-b", "run-c"]
    shown = re.sub(r"<[^>]+>", " ", zh)  # the text, not the attributes
    for state in ("running", "queued", "done"):
        assert tr(f"state_{state}", "zh") in shown
        assert tr(f"state_{state}", "en") not in shown
    assert tr("board_col_owner", "zh") in zh and "3 / 10" in zh and "1.2500" in zh
    assert zh.count("<svg") == 2  # the queued run has no curve yet
    en = board_html(rows, "en")
    assert tr("state_running", "en") in en and tr("board_col_owner", "en") in en


def test_large_type_for_the_projector_and_links_only_on_the_tab():
    small = board_html([row()], "en", link_runs=True)
    large = board_html([row()], "en", large=True)
    assert 'href="board?run=run-1"' in small and "href" not in large
    size = lambda page: float(re.search(r"font-size:([\d.]+)rem", page).group(1))  # noqa: E731
    assert size(large) >= 1.5 * size(small)
    assert "<button" not in large and "<input" not in large


def test_an_empty_board_and_the_local_user_say_so_in_the_language():
    assert tr("board_empty", "zh") in board_html([], "zh")
    assert tr("board_local_user", "zh") in board_html([row(owner="")], "zh")


# ---- a real JobManager with the fake trainer ----------------------------------

@pytest.mark.processes
def test_the_board_follows_a_real_manager_a_training_run_and_a_queued_one(tmp_path):
    jobs = JobManager(RunRegistry(tmp_path / "studio.db"), max_queue=8, stop_grace_s=2)
    try:
        jobs.submit(dataclasses.replace(
            spec_for(tmp_path, "run-a1", FAKE_ITERS=400, FAKE_SLEEP=0.05), owner="alice"))
        jobs.submit(dataclasses.replace(
            spec_for(tmp_path, "run-b1", FAKE_ITERS=3), owner="bob"))
        wait_iter(jobs, "run-a1", 3)
        training, queued = board_rows(jobs, "cpu")
        assert (training.run_id, training.owner, training.state) == ("run-a1", "alice",
                                                                     "running")
        assert training.device == "cpu" and training.max_iters == 400
        assert training.iter >= 3 and len(training.losses) >= 3
        assert training.loss == training.losses[-1]
        assert (queued.run_id, queued.owner, queued.state) == ("run-b1", "bob", "queued")
        assert queued.queue_position == 1 and queued.device == NO_DEVICE
        assert queued.losses == () and queued.loss is None

        jobs.stop("run-a1", keep_progress=False)
        wait_for(jobs, "run-b1", {"done"})
        wait_for(jobs, "run-a1", {"stopped"})
        done, stopped = board_rows(jobs, "cpu")
        # Nothing active: newest first, neither holds the device.
        assert (done.run_id, done.state, stopped.run_id, stopped.state) == \
            ("run-b1", "done", "run-a1", "stopped")
        assert done.device == stopped.device == NO_DEVICE
        assert done.iter == done.max_iters == 3 and len(done.losses) == 3
        # Nothing changed, nothing to resend: the same board renders the same HTML.
        assert board_html(board_rows(jobs, "cpu"), "zh") == board_html(board_rows(jobs, "cpu"),
                                                                      "zh")
    finally:
        jobs.shutdown()


def test_an_unchanged_board_is_not_resent():
    import gradio as gr

    from ui.class_board import _changed

    assert _changed("<p>a</p>", "<p>a</p>") == (gr.skip(), gr.skip())
    assert _changed("<p>b</p>", "<p>a</p>") == ("<p>b</p>", "<p>b</p>")
