"""The teacher's class board and presenter mode in a real browser, on a class
list (--auth-file) of a teacher and two students, each student with a run on
the demo profile (one training, one queued). Screenshots under
test-output/browser/<locale>-class-board/ and <locale>-student-board/.
"""
import json
import re

import pytest
from gradio_client import Client, handle_file

from tests.support.app_server import ROOT, models_dir, running_app, wait_models_ready
from tests.support.polling import poll_until
from tests.support.browser import MODELS_TIMEOUT_S, Walk

pytestmark = [pytest.mark.slow, pytest.mark.processes]

TEACHER, STUDENTS = ("teach", "pw-t"), (("amy", "pw-a"), ("ben", "pw-b"))
IMAGE = str(ROOT / "assets" / "example.jpg")


def start_run(url: str, user: str, password: str) -> str:
    """The student's run on the demo profile, started through the API."""
    client = Client(url, auth=(user, password), verbose=False)
    wait_models_ready(client, MODELS_TIMEOUT_S)
    qa = json.dumps([{"question": f"Whose image is this, {user}?",
                      "answer": f"It belongs to {user}."}])
    built = client.predict(handle_file(IMAGE), qa, 200, api_name="/build_dataset")
    return client.predict(built["dataset_id"], "{}", api_name="/start_training")["run_id"]


def logged_in_page(browser, url: str, locale: str, user: str, password: str):
    context = browser.new_context(locale=locale, viewport={"width": 1366, "height": 900})
    response = context.request.post(url + "login", form={"username": user,
                                                         "password": password})
    assert response.ok, response.status
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def no_navbar(page) -> None:
    """The second page (/board) must not bring gradio's navigation bar to either page."""
    poll_until(lambda: page.locator(".nav-holder").count() == 0, 60, interval=0.5,
               message="gradio's navigation bar is shown")


def board_text(page, selector: str, *needles: str) -> str:
    """The board's text once every needle is in it (it arrives by the timer)."""
    board = page.locator(selector)
    seen = [""]

    def complete():
        seen[0] = board.inner_text() if board.count() else ""
        return all(n in seen[0] for n in needles) and seen[0]

    return poll_until(complete, 120, interval=0.5,
                      message=lambda: f"{needles} not all on the board: {seen[0]!r}")


def test_the_teacher_sees_the_class_and_presents_it_students_do_not(browser, tmp_path):
    class_list = tmp_path / "class.csv"
    class_list.write_text(f"{TEACHER[0]},{TEACHER[1]},teacher\n"
                          + "".join(f"{u},{p}\n" for u, p in STUDENTS))
    with running_app(tmp_path / "work", "--profile", "demo", "--models-dir",
                     str(models_dir()), "--auth-file", str(class_list)) as (url, _process):
        runs = {user: start_run(url, user, password) for user, password in STUDENTS}

        # The teacher's Class tab: both students' runs with their owners, live.
        page = logged_in_page(browser, url, "en-US", *TEACHER)
        walk = Walk(page, "en-US-class-board")
        page.goto(url)
        walk.tab("tab_class").click()
        no_navbar(page)
        text = board_text(page, "#class-board", *runs.values(), *runs)
        assert walk.text("board_col_owner") in text
        states = {walk.text("state_running"), walk.text("state_queued")}
        assert any(s in text for s in states), text
        rows = page.locator("#class-board tr[data-run]")
        assert rows.count() == 2
        owners = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(2)]
        assert sorted(owners) == ["amy", "ben"]
        walk.shot("class-tab")
        # Live: the training run's loss curve appears once it has logged two losses.
        poll_until(lambda: page.locator("#class-board svg.sparkline polyline").count(), 900,
                   interval=1, message="no loss curve on the board while a run trains")
        walk.shot("class-tab-training")

        # Presenter mode: the whole class in large type, no controls.
        page.goto(url + "board")
        text = board_text(page, "#presenter-board", *runs.values(), *runs)
        no_navbar(page)
        size = page.locator("#presenter-board table").evaluate(
            "t => parseFloat(getComputedStyle(t).fontSize)")
        assert size >= 28, size
        assert page.locator("#presenter-board button, #presenter-board input").count() == 0
        assert page.get_by_role("tab").count() == 0
        assert page.get_by_role("button", name=walk.text("stop")).count() == 0
        walk.shot("presenter-class")

        # One run alone, also after the timer has refreshed it (each refresh reads the
        # page's ?run= again).
        page.goto(url + f"board?run={runs['amy']}")
        board_text(page, "#presenter-board", runs["amy"], "amy")
        for _tick in range(2):  # two refreshes: the first one's answer has arrived
            with page.expect_request(lambda r: "queue/join" in r.url, timeout=60_000) as tick:
                pass
            assert f"run={runs['amy']}" in tick.value.url
        text = board_text(page, "#presenter-board", runs["amy"], "amy")
        assert runs["ben"] not in text
        walk.shot("presenter-one-run")

        # The projector in Chinese: states in the page's language.
        zh = logged_in_page(browser, url, "zh-CN", *TEACHER)
        zh_walk = Walk(zh, "zh-CN-class-board")
        zh.goto(url + "board")
        text = board_text(zh, "#presenter-board", *runs.values())
        assert zh_walk.text("board_col_owner") in text
        assert any(zh_walk.text(f"state_{s}") in text for s in ("running", "queued")), text
        zh_walk.shot("presenter-class")

        # A student: no Class tab; /board says it is for teachers and shows no run.
        student = logged_in_page(browser, url, "en-US", *STUDENTS[0])
        student_walk = Walk(student, "en-US-student-board")
        student.goto(url)
        student_walk.tab("tab_data").wait_for()
        no_navbar(student)
        poll_until(lambda: student_walk.tab("tab_compare").is_visible(), 60, interval=0.5)
        assert student_walk.tab("tab_class").count() == 0 or \
            not student_walk.tab("tab_class").is_visible()
        student_walk.shot("no-class-tab")
        student.goto(url + "board")
        refusal = board_text(student, "#presenter-board", student_walk.text("board_refused"))
        assert not re.search(r"run-[0-9a-f]{6}", refusal)
        student_walk.shot("board-refused")
