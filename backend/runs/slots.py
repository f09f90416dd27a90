"""The machine's devices as a pool of run slots: which waiting runs start now, and where.

Pure logic: JobManager hands it the waiting runs in fair order, the runs that
hold devices now and the GPUs' measured free memory; it answers with
placements. The rules:

* a device ("cpu", "cuda:N") has ``slots`` places; a run that needs n > 1 GPUs
  takes n whole GPUs (no other run on them, none beside it later);
* on a GPU a run starts only where the measured free memory, less what the
  runs placed there but not yet training ("starting") have still to take
  (their estimate less what their processes hold there already, where
  nvidia-smi names them), covers its estimate plus the margin
  (backend/training/memory.py ``with_margin``). Memory the app's chat models
  hold counts as reclaimable: the run that needs it gets them unloaded
  (``Placement.reclaim``);
* strict order: the first waiting run that does not fit ends the pass, so
  nothing overtakes it and queue positions stay true; only a run whose owner
  already has ``max_active_per_user`` runs is passed over (it waits, those
  behind it go on). Runs without an owner (no login: the app's one user) are
  not limited, or a single-user app would run one at a time for nothing.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from backend.training.memory import with_margin

CPU = "cpu"
CLUSTER = "slurm"   # a run handed to Slurm, until its job runs on a node
CLUSTER_SLOTS = 100_000
# "auto" on a GPU: as many as memory admits, at most this many (a batch-1 run
# leaves a GPU mostly idle; eight lesson runs kept an H200 92% busy).
MAX_AUTO_SLOTS = 8


def gpu_device(index: int) -> str:
    return f"cuda:{index}"


def gpu_index(device: str) -> int | None:
    """3 for "cuda:3"; None for the CPU."""
    return int(device.split(":", 1)[1]) if device.startswith("cuda:") else None


def parse_devices(label: str) -> tuple[str, ...]:
    """("cuda:0", "cuda:1") from the registry's "cuda:0,cuda:1"; () from ""."""
    return tuple(part for part in label.split(",") if part)


def slots_per_device(runs_per_device: str | int, gpu: bool) -> int:
    """--runs-per-device: "auto" (GPU: MAX_AUTO_SLOTS, memory decides; CPU: 1) or N >= 1."""
    if str(runs_per_device).strip() in ("", "auto"):
        return MAX_AUTO_SLOTS if gpu else 1
    try:
        slots = int(runs_per_device)
    except ValueError:
        slots = 0
    if slots < 1:
        raise ValueError(f"--runs-per-device must be auto or a number from 1; got {runs_per_device!r}.")
    return slots


@dataclass(frozen=True)
class Want:
    """A waiting run as the pool sees it."""

    run_id: str
    owner: str = ""
    memory_bytes: int = 0   # estimated peak per GPU (0 on the CPU)
    device_count: int = 1


@dataclass(frozen=True)
class Holding:
    """A run that holds devices now. No devices: recorded before devices were
    (a trainer from an older server): it holds every device."""

    run_id: str
    devices: tuple[str, ...]
    owner: str = ""
    memory_bytes: int = 0
    starting: bool = False  # placed, no iteration logged yet
    group: int | None = None  # its processes' group (the step's pid), when known


@dataclass(frozen=True)
class Placement:
    run_id: str
    devices: tuple[str, ...]
    reclaim: bool = False   # it needs the memory the chat models hold there

    @property
    def label(self) -> str:
        """What the registry and the page show: "cpu", "cuda:0", "cuda:0,cuda:1"."""
        return ",".join(self.devices)

    @property
    def gpu_indices(self) -> tuple[int, ...]:
        return tuple(i for i in map(gpu_index, self.devices) if i is not None)


@dataclass(frozen=True)
class GpuMemory:
    free: dict[int, int]                                 # measured now (nvidia-smi)
    reclaimable: dict[int, int] = field(default_factory=dict)  # the chat models' share
    unsettled: frozenset[int] = frozenset()              # chat models loading: place nothing
    # Bytes held per (GPU, process group), as nvidia-smi lists its processes:
    # a starting run's own share is in ``free`` already, not to be counted again.
    used: dict[tuple[int, int], int] = field(default_factory=dict)


class DevicePool:
    def __init__(self, devices: Sequence[str], slots: int, max_active_per_user: int = 1,
                 capacity: dict[int, int] | None = None):
        if not devices:
            raise ValueError("A device pool needs at least one device.")
        if max_active_per_user < 1:
            raise ValueError(f"--max-active-per-user must be 1 or more; got {max_active_per_user}.")
        self.devices = tuple(devices)
        self.slots = slots
        self.max_active_per_user = max_active_per_user
        # Free memory per GPU at start-up: the fallback when nvidia-smi says nothing.
        self.capacity = dict(capacity or {})

    @classmethod
    def for_cpu(cls, runs_per_device: str | int = "auto",
                max_active_per_user: int = 1) -> "DevicePool":
        return cls((CPU,), slots_per_device(runs_per_device, gpu=False), max_active_per_user)

    @classmethod
    def for_gpus(cls, free_at_start: dict[int, int], runs_per_device: str | int = "auto",
                 max_active_per_user: int = 1) -> "DevicePool":
        return cls(tuple(gpu_device(i) for i in sorted(free_at_start)),
                   slots_per_device(runs_per_device, gpu=True), max_active_per_user,
                   capacity=free_at_start)

    @classmethod
    def for_cluster(cls, max_active_per_user: int = 1) -> "DevicePool":
        """Runs handed to a cluster scheduler: it decides where and when, so
        only the per-user limit holds a run back here."""
        return cls((CLUSTER,), CLUSTER_SLOTS, max_active_per_user)

    @property
    def gpus(self) -> tuple[int, ...]:
        return tuple(i for i in map(gpu_index, self.devices) if i is not None)

    def never_fits(self, want: Want) -> str | None:
        """Why a run can never start here (more GPUs than the pool has), or None."""
        needed = want.device_count if self.gpus else 1
        if needed > len(self.devices):
            return (f"This run needs {needed} GPUs and the server trains on "
                    f"{len(self.devices)} ({', '.join(self.devices)}); start it again.")
        return None

    def has_room(self, holding: Sequence[Holding]) -> bool:
        """Some device has a free slot (before measuring any memory)."""
        runs_on = self._runs_on(holding)
        return any(len(runs_on[d]) < self.slots and not self._whole(runs_on[d])
                   for d in self.devices)

    def place(self, waiting: Sequence[Want], holding: Sequence[Holding],
              memory: GpuMemory | None = None) -> list[Placement]:
        """Which of ``waiting`` (in the order they may start) start now, and where."""
        runs_on = self._runs_on(holding)
        active = Counter(h.owner for h in holding)
        available = self._available(holding, runs_on, memory)
        reclaimable = dict(memory.reclaimable) if memory else {}
        unsettled = memory.unsettled if memory else frozenset()
        placements = []
        for want in waiting:
            if want.owner and active[want.owner] >= self.max_active_per_user:
                continue
            if self.never_fits(want):
                break  # JobManager fails it; until then it waits at the head
            placement = self._fit(want, runs_on, available, reclaimable, unsettled)
            if placement is None:
                break
            need = with_margin(want.memory_bytes)
            for index in placement.gpu_indices:
                if available.get(index) is not None:
                    if placement.reclaim:
                        available[index] += reclaimable.pop(index, 0)
                    available[index] -= need
            held = Holding(want.run_id, placement.devices, want.owner, want.memory_bytes, True)
            for device in placement.devices:
                runs_on[device].append(held)
            active[want.owner] += 1
            placements.append(placement)
        return placements

    # ---- the pieces -------------------------------------------------------
    def _runs_on(self, holding: Sequence[Holding]) -> dict[str, list[Holding]]:
        runs_on: dict[str, list[Holding]] = {d: [] for d in self.devices}
        for held in holding:
            for device in held.devices or self.devices:
                runs_on.setdefault(device, []).append(held)
        return runs_on

    def _whole(self, holders: list[Holding]) -> bool:
        """A device held by a multi-GPU run, or by one whose devices are unknown."""
        return any(len(h.devices) != 1 for h in holders)

    def _available(self, holding, runs_on, memory: GpuMemory | None) -> dict[int, int | None]:
        """Bytes a new run may count on, per GPU (None: not checked)."""
        available: dict[int, int | None] = {}
        for index in self.gpus:
            holders = runs_on[gpu_device(index)]
            if memory is not None and index in memory.free:
                taken = sum(max(0, with_margin(h.memory_bytes)
                                - memory.used.get((index, h.group), 0))
                            for h in holders if h.starting)
                available[index] = memory.free[index] - taken
            elif memory is not None and index in self.capacity:
                # Not measured now: start-up's figure less every run placed there.
                available[index] = self.capacity[index] - sum(
                    with_margin(h.memory_bytes) for h in holders)
            else:
                available[index] = None
        return available

    def _fit(self, want: Want, runs_on, available, reclaimable,
             unsettled: frozenset[int]) -> Placement | None:
        need = with_margin(want.memory_bytes)
        count = want.device_count if self.gpus else 1
        options = []  # (needs reclaim, -room, runs there, device)
        for device in self.devices:
            holders = runs_on[device]
            index = gpu_index(device)
            if index in unsettled or self._whole(holders):
                continue
            if (count > 1 and holders) or len(holders) >= self.slots:
                continue
            room = available.get(index) if index is not None else None
            if room is None:
                options.append((False, 0, len(holders), device))
            elif room >= need:
                options.append((False, -room, len(holders), device))
            elif room + reclaimable.get(index, 0) >= need:
                options.append((True, -room, len(holders), device))
        if len(options) < count:
            return None
        chosen = sorted(options, key=lambda o: o[:3])[:count]
        devices = tuple(sorted((o[3] for o in chosen), key=self.devices.index))
        return Placement(want.run_id, devices, reclaim=any(o[0] for o in chosen))
