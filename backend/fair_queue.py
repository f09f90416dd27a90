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
