import pytest

from backend.access.accounts import (CHANGE, READ, STOP, AccessError, Account, Accounts,
                                     parse_pair, read_credentials_file)
from ui.security import refused_file_target, run_of_file


def test_credentials_file_with_roles(tmp_path):
    path = tmp_path / "class.csv"
    path.write_text("# class list\nalice,pw1\nbob,pw2,student\nteach,pw3,teacher\n")
    accounts = Accounts(read_credentials_file(path))
    assert accounts.check("alice", "pw1") and not accounts.check("alice", "pw2")
    assert not accounts.check("nobody", "pw1")
    assert accounts.role("teach") == "teacher"


def test_bad_credentials_are_explained(tmp_path):
    with pytest.raises(ValueError, match="user:password"):
        parse_pair("nocolon")
    path = tmp_path / "c.csv"
    path.write_text("alice,pw,admin\n")
    with pytest.raises(ValueError, match="role must be"):
        read_credentials_file(path)


def test_owners_teachers_and_others():
    accounts = Accounts([Account("a", "1"), Account("b", "2"), Account("t", "3", "teacher")])
    for action in (READ, STOP, CHANGE):
        accounts.require(action, "a", "a", "run-1")
        # Another student learns nothing, not even that the run exists.
        with pytest.raises(AccessError, match="Unknown run"):
            accounts.require(action, "b", "a", "run-1")
    # The teacher's hand: sees and stops any run, never resumes or deletes one.
    accounts.require(READ, "t", "a", "run-1")
    accounts.require(STOP, "t", "a", "run-1")
    with pytest.raises(AccessError, match="owner can resume or delete"):
        accounts.require(CHANGE, "t", "a", "run-1")


def test_without_auth_everyone_is_the_local_user():
    accounts = Accounts([])
    assert accounts.user("whoever") == ""
    accounts.require(CHANGE, None, "", "run-1")


@pytest.mark.parametrize("path,refused", [
    ("/gradio_api/file=http://example.com/", True),
    ("/gradio_api/file=https%3A//example.com/", True),
    ("/gradio_api/file=HTTP://example.com", True),
    ("/file=//example.com/x", True),
    ("/gradio_api/file/https://example.com/x", True),  # gradio's deprecated route
    ("/gradio_api/file///example.com/x", True),
    ("/gradio_api/file=/tmp/gradio/abc/image.png", False),
    ("/gradio_api/info", False),
])
def test_file_route_guard(path, refused):
    assert refused_file_target(path) is refused


RUN = "run-0a1b2c3d4e"


@pytest.mark.parametrize("path,run_id", [
    (f"/gradio_api/file=/tmp/gradio/ab12/{RUN}-llava.zip", RUN),
    (f"/gradio_api/file=/tmp/gradio/ab12/{RUN}-iter_50-llava.zip", RUN),
    (f"/gradio_api/file=/tmp/gradio/ab12/{RUN}-scores.csv", RUN),
    ("/gradio_api/file=%2Ftmp%2Fgradio%2Fab%2Frun-0A1B2C3D4E-llava.zip?download=true", RUN),
    (f"/file=/tmp/x/{RUN}-llava.zip", RUN),
    # What gradio resolves to the same file: a trailing slash, the /file/ route, "..".
    (f"/gradio_api/file=/tmp/gradio/ab12/{RUN}-llava.zip/", RUN),
    (f"/gradio_api/file//tmp/gradio/ab12/{RUN}-llava.zip", RUN),
    (f"/gradio_api/file=/tmp/gradio/ab12/{RUN}-llava.zip/x/..", RUN),
    (f"/gradio_api/file=/tmp/gradio/ab12/{RUN}-llava.zip%2F", RUN),
    ("/gradio_api/file=/tmp/gradio/ab12/run-0a1b-llava.zip", None),  # not a run id
    ("/gradio_api/file=/tmp/gradio/ab12/run-0a1b2c3d4e5-x.zip", None),
    ("/gradio_api/file=/tmp/gradio/ab12/notes.zip", None),
    ("/gradio_api/upload", None),
    ("/gradio_api/files", None),
])
def test_run_file_routes_name_their_run(path, run_id):
    assert run_of_file(path) == run_id


def test_loud_warning_when_exposed_without_login():
    from backend.training.launch_checks import exposure_warning
    from backend.settings import parse_settings

    assert exposure_warning(parse_settings([]), auth_enabled=False) is None
    shared = exposure_warning(parse_settings(["--share"]), auth_enabled=False)
    assert "WITHOUT LOGIN" in shared and "share link" in shared
    assert "0.0.0.0" in exposure_warning(parse_settings(["--host", "0.0.0.0"]), False)
    assert exposure_warning(parse_settings(["--host", "0.0.0.0"]), auth_enabled=True) is None


def test_row_count_and_text_limits_have_clear_messages():
    from backend.data import dataset

    rows = [(f"q{i}", "a") for i in range(dataset.MAX_CONVERSATIONS + 1)]
    with pytest.raises(dataset.DatasetError, match="At most 200 conversations"):
        dataset.conversations_from_rows(rows)
    with pytest.raises(dataset.DatasetError, match="Repeat count"):
        dataset.build_records(dataset.conversations_from_rows([("q", "a")]), "i.jpg",
                              dataset.MAX_REPEATS + 1)
