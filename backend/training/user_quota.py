"""Per-user disk quota over a user's datasets and runs (--user-quota-gb).

A user's use is what their dataset and run folders hold now, plus what their
queued and running runs have reserved and not yet written (DiskBudget). Only
with login on: without it the app is one person's tool and the disk is theirs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from backend.errors import StudioError
from backend.training.disk import folder_bytes
from backend.training.disk_budget import DiskBudget

# One lesson-size run (two checkpoints kept, both converted models: about 26 GB
# on InternLM2-Chat-1.8B) plus datasets; the demo profile's runs take a few MB.
DEFAULT_QUOTA_GB = 40.0
GB = 1e9


class QuotaError(StudioError, ValueError):
    """Over the user's quota; the UI says it in the page's language."""
    message_key = "err_quota"

    def __init__(self, used: int, needed: int, quota: int):
        self.message_fields = {"used_gb": f"{used / GB:.2f}", "needed_gb": f"{needed / GB:.2f}",
                               "quota_gb": f"{quota / GB:g}"}
        super().__init__(
            f"Your disk quota is {quota / GB:g} GB: you use {used / GB:.2f} GB and this needs "
            f"about {needed / GB:.2f} GB more. Delete a dataset or an old run first.")


@dataclass(frozen=True)
class Usage:
    datasets: int
    runs: int
    reserved: int
    quota: int  # bytes; 0 = no quota

    @property
    def total(self) -> int:
        return self.datasets + self.runs + self.reserved


class UserQuota:
    def __init__(self, quota_gb: float, datasets, jobs, budget: DiskBudget,
                 applies: Callable[[str], bool] = bool):
        self.quota = int(quota_gb * GB)
        self.datasets = datasets  # DatasetStore
        self.jobs = jobs          # JobManager
        self.budget = budget
        # Whose use is limited: by default every named user (login on).
        self.applies = applies

    def usage(self, owner: str) -> Usage:
        dataset_bytes = sum(folder_bytes(folder) for folder in self._dataset_folders(owner))
        runs = [run["run_id"] for run in self.jobs.list_runs() if run["owner"] == owner]
        run_bytes = 0
        for run_id in runs:
            try:
                run_dir = self.jobs.run_dir(run_id)
            except Exception:  # a run without its job description holds nothing here
                continue
            run_bytes += folder_bytes(run_dir) if run_dir.exists() else 0
        return Usage(dataset_bytes, run_bytes, self.budget.reserved_by(runs),
                     self.quota if self.applies(owner) else 0)

    def check(self, owner: str, needed: int) -> None:
        """Refuse ``needed`` more bytes for owner when it would pass the quota."""
        if not self.quota or not self.applies(owner):
            return
        used = self.usage(owner).total
        if used + needed > self.quota:
            raise QuotaError(used, needed, self.quota)

    def _dataset_folders(self, owner: str) -> Iterable:
        for meta in self.datasets.root.glob("ds-*/meta.json"):
            try:
                stored = self.datasets.get(meta.parent.name)
            except (KeyError, ValueError, OSError):
                continue
            if stored.owner == owner:
                yield stored.folder
