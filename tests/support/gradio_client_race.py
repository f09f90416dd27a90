"""Mends a race in gradio_client 2.x that leaves ``Client.predict`` waiting forever.

``Endpoint._predict`` posts the call (``send_data``, which also opens the message
stream in another thread) and only then sets ``pending_messages_per_event[event_id]
= deque()`` and adds the id to ``pending_event_ids``. A quick endpoint on a busy
machine can finish in between: the stream thread has already filed the call's
messages, ``process_completed`` included, in a deque of its own, which the
assignment then replaces with an empty one; or ``pending_event_ids.remove`` of an
id not added yet raises and ends the stream. Either way the call's result never
arrives (seen on /timeline, a CI run held for 15 minutes).

The two containers below keep what the stream filed first and forget an id that
was never added; the client's own code is left as it is.
"""
from __future__ import annotations

from collections import deque


class KeepFiledMessages(dict):
    """``pending_messages_per_event``: an empty deque set over one the stream filled
    keeps the filled one."""

    def __setitem__(self, event_id, messages) -> None:
        if isinstance(messages, deque) and not messages and event_id in self:
            return
        super().__setitem__(event_id, messages)


class ForgivingEventIds(set):
    """``pending_event_ids``: removing an id the caller has not added yet is not an
    error (the stream saw the call complete first); that id is then not added."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._completed: set = set()

    def remove(self, event_id) -> None:
        if event_id in self:
            super().remove(event_id)
        else:
            self._completed.add(event_id)

    def add(self, event_id) -> None:
        if event_id in self._completed:
            self._completed.discard(event_id)
            return
        super().add(event_id)


def mend_gradio_client_race() -> None:
    """Every gradio_client.Client made after this holds the two containers above."""
    from gradio_client import Client

    if getattr(Client.__init__, "mends_race", False):
        return
    original = Client.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.pending_messages_per_event = KeepFiledMessages(self.pending_messages_per_event)
        self.pending_event_ids = ForgivingEventIds(self.pending_event_ids)

    init.mends_race = True
    Client.__init__ = init
