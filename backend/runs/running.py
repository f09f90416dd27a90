"""The runs that hold devices now: a Slot each, kept by JobManager under its lock.

A slot is a run this server started, or a trainer that outlived a restart
(an orphan: it holds its recorded device until it ends). The table answers
what the scheduler and the rest of the app ask of them: what each holds,
which are still starting, which train on which devices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from backend.runs import progress
from backend.runs.executor import Handle
from backend.runs.slots import Holding, Placement, parse_devices
from backend.runs.spec import JobSpec
from backend.runs.thread_share import ThreadShare


@dataclass
class Slot:
    run_id: str
    owner: str
    placement: Placement
    placed_at: float
    spec: JobSpec | None = None   # None: an orphan whose job.json is unknown
    memory_bytes: int = 0
    handle: Handle | None = None
    step_state: str = "running"   # the registry state of the step it runs
    starting: bool = True         # no iteration logged since it was placed
    orphan: bool = False
    port: int | None = None       # torchrun's master port (several GPUs)
    shared_with: set[str] = field(default_factory=set)  # runs that were on its GPUs
    threads: int | None = None    # its share of the cores (thread_share.py); None: the spec's

    @classmethod
    def left_behind(cls, run_id: str, spec: JobSpec | None, handle: Handle | None, device: str,
               state: str, started_at: float) -> "Slot":
        """A step that outlived a restart, on the device the registry recorded."""
        slot = cls(run_id, spec.owner if spec else "", Placement(run_id, parse_devices(device)),
                   started_at, spec=spec, memory_bytes=spec.memory_bytes if spec else 0,
                   handle=handle, step_state=state, orphan=True)
        slot.check_started_training()
        return slot

    def processes(self) -> int:
        """Its training processes: torchrun starts one a GPU."""
        return max(1, len(self.placement.gpu_indices))

    def holding(self) -> Holding:
        return Holding(self.run_id, self.placement.devices, self.owner, self.memory_bytes,
                       starting=self.starting and self.step_state == "running",
                       group=self.handle.pid if self.handle is not None else None)

    def check_started_training(self) -> None:
        """Starting ends at the first logged iteration: its memory is taken then."""
        if self.starting and (self.step_state != "running" or self.spec is None
                              or progress.logged_since(self.spec.train_dir, self.placed_at)):
            self.starting = False


class SlotTable:
    """Not thread-safe: JobManager holds its lock around every call."""

    def __init__(self, all_devices: tuple[str, ...], thread_share: ThreadShare | None = None):
        self._slots: dict[str, Slot] = {}
        self._all_devices = all_devices  # what a slot with no recorded device holds
        # Each run's CPU threads, taken as it is added (None: every run the spec's).
        self._thread_share = thread_share

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._slots

    def __iter__(self) -> Iterator[Slot]:
        return iter(list(self._slots.values()))

    def get(self, run_id: str) -> Slot | None:
        return self._slots.get(run_id)

    def add(self, slot: Slot) -> None:
        """Also remembers who shares a GPU with whom (named if one runs out of
        memory), and gives a run started here its share of the cores."""
        share = self._thread_share
        if share is not None and not slot.orphan:
            # A run on several GPUs is a process on each; one left behind by a
            # restart holds an unknown count: the most.
            held = ((other.threads or share.cap) * other.processes()
                    for other in self._slots.values())
            slot.threads = share.for_next_run(held, processes=slot.processes())
        for other in self._slots.values():
            if set(slot.placement.gpu_indices) & set(other.placement.gpu_indices):
                slot.shared_with.add(other.run_id)
                other.shared_with.add(slot.run_id)
        self._slots[slot.run_id] = slot

    def pop(self, run_id: str) -> Slot | None:
        return self._slots.pop(run_id, None)

    def holdings(self) -> list[Holding]:
        return [slot.holding() for slot in self._slots.values()]

    def devices_of(self, training_only: bool = False) -> dict[str, str]:
        """Run id -> its devices ("cuda:0,cuda:1"), in the order they were placed."""
        return {run_id: slot.placement.label for run_id, slot in self._slots.items()
                if not training_only or slot.step_state == "running"}

    def starting_gpus(self) -> set[int]:
        return {i for slot in self._slots.values() if slot.holding().starting
                for i in slot.placement.gpu_indices}

    def devices_in_use(self) -> set[str]:
        return {d for slot in self._slots.values()
                for d in slot.placement.devices or self._all_devices}

    def ports(self) -> set[int]:
        return {slot.port for slot in self._slots.values() if slot.port}

    def check_started_training(self) -> None:
        for slot in self._slots.values():
            slot.check_started_training()
