"""Start-up check: can a Slurm job see the server's WORK_DIR?

Runs, logs, checkpoints and the stop request all travel through WORK_DIR, so
a cluster whose nodes do not share it would fail every run, late and
obscurely. One tiny job looks for a file the server has just written there.
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import replace
from pathlib import Path

from backend.errors import StudioError
from backend.runs.slurm.executor import SlurmExecutor

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 120.0


class SharedFolderError(StudioError, ValueError):
    """WORK_DIR is not visible from a Slurm job (the server refuses to start)."""


def check_shared_folder(executor: SlurmExecutor, work_dir: Path,
                        timeout_s: float = CHECK_TIMEOUT_S) -> bool:
    """True when a job saw the probe file; SharedFolderError when it did not;
    False (logged) when the cluster did not run the check in time."""
    # A look at a file needs no GPU: the runs' partition, none of their resources.
    executor = SlurmExecutor(replace(executor.options, gres=""), executor.state_dir)
    probe = executor.state_dir / f"probe-{secrets.token_hex(8)}"
    probe.write_text("XTuner LLaVA Studio: a job must see this file\n")
    try:
        handle = executor.start(["test", "-f", str(probe)], cwd=work_dir, env=dict(os.environ),
                                log_file=executor.state_dir / "folder_check.log",
                                name="studio-folder-check")
        deadline = time.monotonic() + timeout_s
        while executor.entry(handle, fresh=True) is not None:
            if time.monotonic() > deadline:
                executor.cancel(handle)
                log.warning("Slurm did not run the shared-folder check within %.0f s; "
                            "starting without it (WORK_DIR %s must be visible from the "
                            "nodes).", timeout_s, work_dir)
                return False
            time.sleep(executor.poll_s)
        code = executor.wait(handle)
    finally:
        probe.unlink(missing_ok=True)
    if code != 0:
        raise SharedFolderError(
            f"the work folder {work_dir} is not visible from Slurm jobs (a job could not "
            "read a file the server had just written there). Put WORK_DIR (--work-dir) on "
            "a file system every node mounts at the same path, e.g. NFS or Lustre: "
            "docs/cluster.md.")
    return True
