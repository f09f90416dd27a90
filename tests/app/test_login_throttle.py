"""Login throttling: the counting rules on a fake clock (unit), then 15 wrong
logins against the real app (slow: a server subprocess)."""
import re

import httpx
import pytest

from backend.access.login_throttle import LoginThrottle
from tests.support.app_server import running_app


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def fail(throttle, times, user="alice", address="10.0.0.1"):
    for _ in range(times):
        throttle.failed(user, address)


def test_ten_failures_lock_the_username_and_the_address():
    clock = Clock()
    throttle = LoginThrottle(limit=10, clock=clock)
    fail(throttle, 9)
    assert throttle.retry_after("alice", "10.0.0.1") == 0
    fail(throttle, 1)
    assert throttle.retry_after("alice", "10.0.0.1") == 60
    assert throttle.retry_after("alice", "10.0.0.9") == 60   # the name, from anywhere
    assert throttle.retry_after("bob", "10.0.0.1") == 60     # the address, for any name
    assert throttle.retry_after("bob", "10.0.0.9") == 0      # others are not touched


def test_the_cool_down_grows_with_each_lockout():
    clock = Clock()
    throttle = LoginThrottle(limit=10, clock=clock)
    waits = []
    for _ in range(4):
        fail(throttle, 10)
        waits.append(throttle.retry_after("alice", "10.0.0.1"))
        clock.now += waits[-1]
        assert throttle.retry_after("alice", "10.0.0.1") == 0
    assert waits == [60, 120, 240, 480]


def test_failures_older_than_the_window_do_not_count():
    clock = Clock()
    throttle = LoginThrottle(limit=10, clock=clock)
    fail(throttle, 9)
    clock.now += 301
    fail(throttle, 9)
    assert throttle.retry_after("alice", "10.0.0.1") == 0


def test_zero_turns_it_off():
    throttle = LoginThrottle(limit=0)
    fail(throttle, 100)
    assert throttle.retry_after("alice", "10.0.0.1") == 0


def login(url: str, username: str, password: str, address: str = "127.0.0.1"):
    """POST gradio's login form from a given loopback address (all of
    127.0.0.0/8 reaches the server, each a different client address)."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=url, transport=transport, timeout=30) as client:
        response = client.post("login", data={"username": username, "password": password})
        return response, client.cookies


@pytest.mark.slow
@pytest.mark.processes
def test_fifteen_wrong_logins_against_the_real_app(tmp_path):
    missing = tmp_path / "no-models"  # custom profile: nothing is built or loaded
    args = ("--profile", "custom", "--llm", str(missing), "--visual-encoder", str(missing),
            "--pretrained-pth", str(missing), "--auth", "alice:pw-a", "--auth", "bob:pw-b")
    with running_app(tmp_path / "work", *args) as (url, process):
        statuses = [login(url, "alice", f"guess-{i}")[0] for i in range(15)]
        assert [r.status_code for r in statuses] == [400] * 10 + [429] * 5
        assert 0 < int(statuses[-1].headers["Retry-After"]) <= 60
        assert "Too many failed logins" in statuses[-1].json()["detail"]

        # Another user from another address is not slowed...
        assert login(url, "bob", "pw-b", "127.0.0.2")[0].status_code == 200
        # ...but the address that guessed is, even with a right password,
        assert login(url, "bob", "pw-b")[0].status_code == 429
        # and so is the guessed name, from a fresh address.
        assert login(url, "alice", "pw-a", "127.0.0.3")[0].status_code == 429

        # gradio's /monitoring routes are closed, logged in or not.
        _, cookies = login(url, "bob", "pw-b", "127.0.0.2")
        with httpx.Client(base_url=url, cookies=cookies,
                          transport=httpx.HTTPTransport(local_address="127.0.0.2")) as bob:
            for path in ("monitoring", "monitoring/summary", "monitoring/summary/",
                         "%6Donitoring/summary", "monitoring/some-key"):
                assert bob.get(path).status_code == 404, path
                assert httpx.get(url + path.lstrip("/")).status_code == 404, path
    log = (tmp_path / f"app-{url.rsplit(':', 1)[1].strip('/')}.log").read_text()
    failures = re.findall(r"failed login: user 'alice' from 127\.0\.0\.1", log)
    assert len(failures) == 10
    assert len(re.findall(r"login refused, too many failed logins: user '(alice|bob)'", log)) == 7
    assert "guess-" not in log and "pw-" not in log  # never a password
