"""The one way a test waits: for a condition, with a deadline sized for a loaded machine.

A test never sleeps a fixed time to let something happen and never asserts a
state that is only momentarily true; it polls for the state it needs. The
deadlines are long (a 2-core CI machine with a CPU hog beside it runs a real
trainer several times slower than an idle one); a passing test never waits
for them, only a failing one does. STUDIO_TEST_TIME_SCALE multiplies them.
"""
from __future__ import annotations

import os
import time
from typing import Callable, TypeVar

T = TypeVar("T")

# Deadlines for waits on subprocesses, threads and servers.
SHORT = 60.0      # a thread or a fake trainer reaching a state
LONG = 900.0      # a real xtuner run on the demo profile


def scaled(seconds: float) -> float:
    return seconds * float(os.environ.get("STUDIO_TEST_TIME_SCALE", "1"))


def poll_until(condition: Callable[[], T], timeout: float = SHORT, interval: float = 0.05,
               message: str | Callable[[], str] = "condition not met") -> T:
    """Call ``condition`` until it returns something truthy; return that.

    Raises AssertionError naming ``message`` (a string, or a function called
    then, so it can describe the last state seen) after ``timeout`` seconds.
    """
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"not within {scaled(timeout):.0f} s: {text}")
        time.sleep(interval)
