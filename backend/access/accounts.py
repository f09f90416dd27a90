"""Who may log in, and who may see or touch which run.

Without auth the app is a single-user tool: everybody is the same local
user and sees every run. With auth, a run belongs to the user who started
it; a teacher sees every run (to show one on the projector) and may stop any
(the class shares the machine), but only the owner resumes or deletes a run.
"""
from __future__ import annotations

import csv
import hmac
from dataclasses import dataclass
from pathlib import Path
from backend.errors import StudioError

LOCAL_USER = ""
ROLES = ("student", "teacher")
# What a request does to a run: reads it; stops it (or cancels it while
# queued); changes it (resume, delete).
READ, STOP, CHANGE = "read", "stop", "change"


class AccessError(StudioError, PermissionError):
    """The visitor may not do this to this run."""


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: str = "student"


def parse_pair(text: str, role: str = "student") -> Account:
    username, sep, password = text.partition(":")
    if not sep or not username or not password:
        raise ValueError("auth must look like user:password")
    return Account(username.strip(), password, role)


def read_credentials_file(path: Path) -> list[Account]:
    """A class list: CSV rows ``username,password[,role]`` (role student/teacher)."""
    accounts = []
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{number}: expected username,password[,role]")
            role = row[2].strip() if len(row) > 2 and row[2].strip() else "student"
            if role not in ROLES:
                raise ValueError(f"{path}:{number}: role must be one of {ROLES}")
            accounts.append(Account(row[0].strip(), row[1].strip(), role))
    return accounts


class Accounts:
    def __init__(self, accounts: list[Account]):
        self._by_name = {a.username: a for a in accounts}

    @property
    def enabled(self) -> bool:
        return bool(self._by_name)

    def check(self, username: str, password: str) -> bool:
        """Constant-time password check (gradio's auth callback)."""
        account = self._by_name.get(username)
        expected = account.password if account else "\0invalid"
        return hmac.compare_digest(password.encode(), expected.encode()) and account is not None

    def role(self, username: str | None) -> str:
        account = self._by_name.get(username or "")
        return account.role if account else "student"

    def user(self, username: str | None) -> str:
        """The owner name for a request (LOCAL_USER when auth is off)."""
        return (username or LOCAL_USER) if self.enabled else LOCAL_USER

    def can_read(self, username: str | None, owner: str) -> bool:
        user = self.user(username)
        return user == owner or self.role(user) == "teacher" or not self.enabled

    def can_write(self, username: str | None, owner: str) -> bool:
        return self.user(username) == owner or not self.enabled

    def can_stop(self, username: str | None, owner: str) -> bool:
        return self.can_write(username, owner) or self.role(self.user(username)) == "teacher"

    def require(self, action: str, username: str | None, owner: str, run_id: str) -> None:
        if not self.can_read(username, owner):
            raise AccessError(f"Unknown run: {run_id!r}")  # no hint that it exists
        if action == STOP and not self.can_stop(username, owner):
            raise AccessError("Only the run's owner or a teacher can stop it.")
        if action == CHANGE and not self.can_write(username, owner):
            raise AccessError("Only the run's owner can resume or delete it; "
                              "a teacher can stop it.")
