"""Slows password guessing: failed logins counted per username and per client address.

After ``limit`` failures for one key (a username, or an address) within
``window_s``, that key is refused for a cool-down that doubles with each
further lock-out (1 minute, 2, 4, ... up to an hour), so guessing at full
speed buys an attacker ten tries an hour. A student who mistyped is back
after a minute. Counting both keys covers one address trying many names and
many addresses trying one name. Refused attempts do not check the password.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

WINDOW_S = 300.0
FIRST_COOL_DOWN_S = 60.0
MAX_COOL_DOWN_S = 3600.0
# A key whose last failure is this old starts again from the first cool-down.
FORGET_AFTER_S = 24 * 3600.0
# Beyond this many keys, idle ones are forgotten (a flood of random names
# must not grow the table without bound).
MAX_KEYS = 10_000


@dataclass
class _Record:
    failures: deque = field(default_factory=deque)
    lockouts: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    def __init__(self, limit: int = 10, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit  # 0 turns throttling off
        self.window_s = window_s
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, address: str | None) -> list[str]:
        return [f"user:{username}"] + ([f"addr:{address}"] if address else [])

    def retry_after(self, username: str, address: str | None) -> float:
        """Seconds until this username and address may try again (0 = now)."""
        if self.limit <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            waits = [record.blocked_until - now for key in self.keys(username, address)
                     if (record := self._records.get(key)) is not None]
        return max([0.0, *waits])

    def failed(self, username: str, address: str | None) -> None:
        """Count one failed login for both keys; lock out a key that reached the limit."""
        if self.limit <= 0:
            return
        now = self.clock()
        with self._lock:
            if len(self._records) > MAX_KEYS:
                self._forget_idle(now)
            for key in self.keys(username, address):
                record = self._records.setdefault(key, _Record())
                if now - record.last_failure > FORGET_AFTER_S:
                    record.lockouts = 0
                record.last_failure = now
                record.failures.append(now)
                while record.failures and now - record.failures[0] > self.window_s:
                    record.failures.popleft()
                if len(record.failures) >= self.limit:
                    record.lockouts += 1
                    record.blocked_until = now + min(
                        FIRST_COOL_DOWN_S * 2 ** (record.lockouts - 1), MAX_COOL_DOWN_S)
                    record.failures.clear()  # after the cool-down: `limit` more tries

    def _forget_idle(self, now: float) -> None:
        idle = [key for key, record in self._records.items()
                if record.blocked_until <= now and now - record.last_failure > self.window_s]
        for key in idle:
            del self._records[key]
