"""tests/support/gradio_client_race.py: a call that completes before the caller files it
keeps its messages."""
from collections import deque

import pytest

from tests.support.gradio_client_race import ForgivingEventIds, KeepFiledMessages

COMPLETED = {"msg": "process_completed", "event_id": "e1", "output": {"data": [1]}}


def _stream_files_completion_first(messages, event_ids):
    """gradio_client's two threads in the order that loses the call: the stream thread
    (Client.stream_messages) files the call's last message, then the caller
    (Endpoint._predict) files the call."""
    if "e1" not in messages:
        messages["e1"] = deque()
    messages["e1"].append(COMPLETED)
    event_ids.remove("e1")
    event_ids.add("e1")
    messages["e1"] = deque()


def test_the_mended_containers_keep_what_the_stream_filed_first():
    messages, event_ids = KeepFiledMessages(), ForgivingEventIds()
    _stream_files_completion_first(messages, event_ids)
    assert list(messages["e1"]) == [COMPLETED]
    assert "e1" not in event_ids


def test_gradio_client_s_own_containers_lose_the_call():
    with pytest.raises(KeyError):  # the stream thread dies on the early remove
        _stream_files_completion_first({}, set())
    messages = {}
    messages["e1"] = deque([COMPLETED])
    messages["e1"] = deque()  # the caller's assignment empties what was filed
    assert not messages["e1"]


def test_a_later_call_is_filed_as_before():
    messages, event_ids = KeepFiledMessages(), ForgivingEventIds()
    event_ids.add("e2")
    messages["e2"] = deque()
    messages["e2"].append(COMPLETED)
    event_ids.remove("e2")
    assert list(messages["e2"]) == [COMPLETED] and not event_ids


def test_every_client_the_tests_make_is_mended():
    from gradio_client import Client

    assert getattr(Client.__init__, "mends_race", False)  # tests/conftest.py
