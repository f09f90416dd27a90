"""A real one-node Slurm cluster for the `slurm` tests (scripts/slurm_local.sh).

tests/conftest.py turns ``local_slurm_cluster`` into the session fixture
``slurm_cluster``: started once a session (Slurm and munge installed first when
missing), stopped at the end only if this session started it. It skips, saying
why, only where the daemons cannot run here: not root, no packages and none to
be had, or daemons that do not come up (the reason ends with their logs).

Jobs run in slurmd's own mount namespace, where ``hidden_dir`` is an empty
tmpfs: a file the test writes there is not visible from a job, everything else
(/tmp, /work) is. Mounts made on the host after the cluster started do not
reach the jobs either.
"""
from __future__ import annotations

import os
import re
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.polling import SHORT, poll_until

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
INSTALL_SECONDS = 600
START_SECONDS = 180


def _script_value(name: str) -> str:
    """A setting of scripts/slurm_local.sh (its NAME=value line), so it lives in one place."""
    found = re.search(rf"^{name}=(\S+)$", SCRIPT.read_text(encoding="utf-8"), re.MULTILINE)
    assert found, f"{SCRIPT} sets no {name}"
    return found.group(1)


@dataclass(frozen=True)
class SlurmCluster:
    partition: str     # the default partition, "studio"
    hidden_dir: Path   # a folder the host sees and jobs do not
    node: str          # the one node (this host's short name)

    def node_state(self) -> str:
        done = subprocess.run(["sinfo", "-h", "-N", "-n", self.node, "-o", "%T"],
                              capture_output=True, text=True, timeout=30)
        return done.stdout.strip() or f"no answer: {done.stderr.strip()}"

    def wait_idle(self, timeout: float = SHORT) -> None:
        """Until the node runs no job (the last test's jobs have left it)."""
        poll_until(lambda: self.node_state() == "idle", timeout, interval=0.2,
                   message=lambda: f"node {self.node} is {self.node_state()!r}, not idle")


def _script(command: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), command], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _tail(done: subprocess.CompletedProcess, lines: int = 60) -> str:
    return "\n".join((done.stdout + done.stderr).strip().splitlines()[-lines:])


@contextmanager
def local_slurm_cluster() -> Iterator[SlurmCluster]:
    if os.geteuid() != 0:
        pytest.skip("the Slurm test cluster needs root (slurmctld, slurmd and munged run as root)")
    installed = _script("install", INSTALL_SECONDS)
    if installed.returncode != 0:
        pytest.skip(f"Slurm and munge are missing and could not be installed "
                    f"(scripts/slurm_local.sh install):\n{_tail(installed)}")
    was_running = _script("status", 60).returncode == 0
    # Also when it runs: start checks slurmd's namespace and the node, and is idempotent.
    started = _script("start", START_SECONDS)
    if started.returncode != 0:
        if not was_running:
            _script("stop", 60)
        pytest.skip(f"the Slurm daemons did not start (scripts/slurm_local.sh start):\n"
                    f"{_tail(started)}")
    partition = _script_value("PARTITION")
    nodes = subprocess.run(["sinfo", "-h", "-N", "-p", partition, "-o", "%N"],
                           capture_output=True, text=True, timeout=30).stdout.split()
    try:
        yield SlurmCluster(partition=partition, hidden_dir=Path(_script_value("HIDDEN_DIR")),
                           node=nodes[0])
    finally:
        if not was_running:
            _script("stop", 120)
