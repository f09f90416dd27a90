"""The order a class's queued runs start in: round-robin over students.

A student who queues five runs never delays a classmate's first: each
student's k-th waiting run is in round k, counting the runs already started
for them in this busy spell as the earlier rounds; within a round, first
come first served.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping, Protocol, Sequence, TypeVar


class Owned(Protocol):
    owner: str


T = TypeVar("T", bound=Owned)


def fair_order(waiting: Sequence[T], served: Mapping[str, int] | None = None) -> list[T]:
    """``waiting`` in arrival order; ``served``: runs started per owner since
    the queue was last empty (the one training now included)."""
    taken = Counter(served or {})
    rounds = []
    for arrival, item in enumerate(waiting):
        rounds.append((taken[item.owner], arrival, item))
        taken[item.owner] += 1
    return [item for _round, _arrival, item in sorted(rounds, key=lambda r: r[:2])]


class FairQueue:
    """The runs waiting for a device, taken in fair_order. Not thread-safe: the
    JobManager holds its lock around every call."""

    def __init__(self):
        self._waiting: list = []
        self._served: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._waiting)

    def __iter__(self):
        """In arrival order."""
        return iter(list(self._waiting))

    def append(self, spec) -> None:
        self._waiting.append(spec)

    def appendleft(self, spec) -> None:
        """Back to the front: a run that was handed a device but did not begin."""
        self._waiting.insert(0, spec)

    def remove(self, spec) -> None:
        self._waiting.remove(spec)

    def ordered(self) -> list:
        """In the order they will start."""
        return fair_order(self._waiting, self._served)

    def take_next(self):
        return self.take(self.ordered()[0])

    def take(self, spec):
        """``spec`` leaves the queue to start (the scheduler may pass over a
        run whose owner has enough runs going)."""
        self._waiting.remove(spec)
        # Who has had a turn while others waited; once nobody waits, the next
        # busy spell starts fresh.
        self._served[spec.owner] += 1
        if not self._waiting:
            self._served = Counter([spec.owner])
        return spec
