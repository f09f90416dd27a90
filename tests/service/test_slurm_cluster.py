"""The one-node Slurm cluster the Slurm executor is tested against (scripts/slurm_local.sh):
a job runs and says how it ended, scancel ends one, and the hidden folder is hidden."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.polling import poll_until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slurm, pytest.mark.processes]


def submit(cluster, folder: Path, argv: list[str]) -> str:
    """sbatch a script that runs ``argv`` in ``folder``, its output in folder/job.log; the job id."""
    script = folder / "job.sh"
    script.write_text("#!/bin/sh\n" + shlex.join(argv) + "\n", encoding="utf-8")
    done = subprocess.run(["sbatch", "--parsable", "--partition", cluster.partition,
                           "--chdir", str(folder), "--output", str(folder / "job.log"),
                           str(script)], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip().split(";")[0]


def job(job_id: str) -> dict[str, str]:
    """`scontrol show job -o`: one line of Key=Value fields."""
    line = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True,
                          text=True, timeout=30, check=True).stdout
    return dict(field.split("=", 1) for field in line.split() if "=" in field)


def ended(job_id: str, state: str) -> dict[str, str]:
    """Wait until the job is in ``state``; its fields."""
    return poll_until(lambda: (fields := job(job_id))["JobState"] == state and fields,
                      message=lambda: f"job {job_id}: {job(job_id)['JobState']}, not {state}")


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_job_writes_its_file_and_completes(slurm_cluster, tmp_path):
    written = tmp_path / "out" / "written.txt"
    job_id = submit(slurm_cluster, tmp_path, python(
        f"import pathlib; p = pathlib.Path({str(written)!r}); p.parent.mkdir(); "
        "p.write_text('from the job'); print('done')"))
    fields = ended(job_id, "COMPLETED")
    assert fields["ExitCode"] == "0:0"
    assert written.read_text() == "from the job"
    assert (tmp_path / "job.log").read_text() == "done\n"
    assert fields["Partition"] == slurm_cluster.partition and fields["NodeList"] == slurm_cluster.node


def test_a_failing_job_reports_its_exit_code(slurm_cluster, tmp_path):
    fields = ended(submit(slurm_cluster, tmp_path, python("raise SystemExit(3)")), "FAILED")
    assert fields["ExitCode"] == "3:0"


def test_scancel_ends_a_sleeping_job(slurm_cluster, tmp_path):
    job_id = submit(slurm_cluster, tmp_path, python("import time; print('up', flush=True); "
                                                    "time.sleep(600)"))
    poll_until(lambda: (tmp_path / "job.log").exists() and (tmp_path / "job.log").read_text(),
               message="the job never started")
    assert job(job_id)["JobState"] == "RUNNING"
    subprocess.run(["scancel", job_id], check=True, timeout=30)
    fields = ended(job_id, "CANCELLED")
    assert fields["ExitCode"] == "0:15", "ended by SIGTERM"
    slurm_cluster.wait_idle()


def test_the_hidden_folder_is_not_visible_from_a_job(slurm_cluster, tmp_path):
    secret = slurm_cluster.hidden_dir / f"from-the-host-{tmp_path.name}"
    secret.write_text("the host wrote this")
    try:
        job_id = submit(slurm_cluster, tmp_path, python(
            "import os; "
            f"print(os.path.exists({str(secret)!r}), os.path.isdir({str(tmp_path)!r}), "
            f"os.path.isdir({str(ROOT)!r}))"))
        ended(job_id, "COMPLETED")
    finally:
        secret.unlink()
    hidden, tmp_seen, repository_seen = (tmp_path / "job.log").read_text().split()
    assert hidden == "False", "the job saw the host's file in the hidden folder"
    assert tmp_seen == "True" and repository_seen == "True", "/tmp and the checkout are shared"
