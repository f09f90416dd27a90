"""Applies the access rules (backend/access/accounts.py) to runs and datasets."""
from __future__ import annotations

from backend.access.accounts import READ, AccessError, Accounts
from backend.data.store import DatasetStore
from backend.runs.jobs import JobManager


class RunAccess:
    def __init__(self, accounts: Accounts, jobs: JobManager, datasets: DatasetStore):
        self.accounts = accounts
        self.jobs = jobs
        self.datasets = datasets

    def owner(self, username: str | None) -> str:
        """Whom a new run or dataset belongs to."""
        return self.accounts.user(username)

    def check_run(self, username: str | None, run_id: str, action: str = READ) -> None:
        """May ``username`` do ``action`` (access.READ, STOP, CHANGE) to the run?"""
        record = self.jobs.registry.get(run_id) if isinstance(run_id, str) else None
        if record is None:
            raise AccessError(f"Unknown run: {run_id!r}")
        self.accounts.require(action, username, record["owner"], run_id)

    def can_read_run(self, username: str | None, run_id: str) -> bool:
        try:
            self.check_run(username, run_id)
        except AccessError:
            return False
        return True

    def check_dataset(self, username: str | None, dataset_id: str) -> None:
        try:
            stored = self.datasets.get(dataset_id)
        except KeyError:
            raise AccessError(f"Unknown dataset id: {dataset_id!r}") from None
        if not self.accounts.can_write(username, stored.owner):
            raise AccessError(f"Unknown dataset id: {dataset_id!r}")

    def visible_runs(self, username: str | None) -> list[dict]:
        return [run for run in self.jobs.list_runs()
                if self.accounts.can_read(username, run["owner"])]
