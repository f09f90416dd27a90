"""The Finetune tab's status line, progress bar and buttons (pure view functions)."""
from ui.train_status import buttons, progress_html
from ui.train_tab import status_markdown

BASE = {"state": "queued", "phase": "waiting", "iter": 0, "max_iters": 600, "elapsed_s": 0,
        "eta_s": None, "loss": None, "queue_position": 2, "stopping": False, "error": "",
        "estimated_start_s": 754.0, "progress": 0.0}


def test_a_queued_student_sees_when_the_run_should_start():
    assert "starts in about 12:34" in status_markdown(BASE, "en")
    assert "预计约 12:34 后开始" in status_markdown(BASE, "zh")
    unknown = status_markdown(dict(BASE, estimated_start_s=None), "en")
    assert "estimated once a run ahead is training" in unknown
    assert "ETA" not in unknown  # no "ETA –" for a run that has not started


def test_the_phase_is_said_in_words_and_the_bar_follows_it():
    running = dict(BASE, state="running", phase="evaluating", queue_position=None,
                   progress=0.08)
    assert "answering the evaluation questions" in status_markdown(running, "en")
    assert "正在回答评估问题" in status_markdown(running, "zh")
    bar = progress_html(running, "en")
    assert 'aria-valuenow="8"' in bar and "width:8%" in bar
    assert progress_html(None, "en") == ""


def test_buttons_enabled_only_when_they_can_act():
    def enabled(status):
        stop, resume = buttons(status)
        return stop["interactive"], resume["interactive"]

    assert enabled(None) == (False, False)
    assert enabled(dict(BASE, state="running")) == (True, False)
    assert enabled(dict(BASE, state="running", stopping=True)) == (False, False)
    assert enabled(dict(BASE, state="stopped")) == (False, True)
    assert enabled(dict(BASE, state="failed")) == (False, True)
    assert enabled(dict(BASE, state="done")) == (False, False)
