"""Slurm's command lines and what they print: built and read here, run elsewhere.

Pure functions (no Slurm needed to test them). Every command is an argument
list; the job script is one fixed file (``JOB_SCRIPT``) that runs the
arguments it is given, so nothing a user typed ever becomes script text.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

# The one job script: runs its arguments, leaves their exit code where the
# server finds it after the job has left Slurm's memory (STUDIO_EXIT_DIR).
JOB_SCRIPT = """#!/bin/bash
# Distributed training's rendezvous port: one per job, so two multi-GPU runs
# on one node do not collide (mmengine's Slurm launch reads MASTER_PORT).
export MASTER_PORT="${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}"
"$@"
code=$?
if [ -n "${STUDIO_EXIT_DIR:-}" ]; then
  printf '%s\\n' "$code" > "$STUDIO_EXIT_DIR/$SLURM_JOB_ID.exit"
fi
exit "$code"
"""

# squeue's fields, in this order: job id, state, node(s), expected start,
# priority, partition, reason.
SQUEUE_FORMAT = "%i|%T|%N|%S|%Q|%P|%r"
RUNNING_STATES = {"RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED"}


@dataclass(frozen=True)
class SlurmOptions:
    """--slurm-partition, --slurm-gres, --slurm-account, --slurm-time ("" = Slurm's default)."""

    partition: str = ""
    gres: str = "gpu:1"
    account: str = ""
    time: str = ""

    def argv(self, tasks: int = 1) -> list[str]:
        """One task: ``gres`` as given. Several (one run over several GPUs):
        one GPU a task, on as many nodes as Slurm finds them."""
        pairs = (("--partition", self.partition), ("--account", self.account),
                 ("--time", self.time))
        if tasks > 1:
            pairs += (("--ntasks", str(tasks)), ("--gpus-per-task", "1"))
        else:
            pairs += (("--gres", self.gres),)
        return [f"{flag}={value}" for flag, value in pairs if value]


@dataclass(frozen=True)
class QueueEntry:
    job_id: str
    state: str
    nodes: str
    start: float | None     # when Slurm expects a pending job to start (epoch), if it says
    priority: int
    partition: str
    reason: str

    @property
    def pending(self) -> bool:
        return self.state == "PENDING"


def sbatch_argv(options: SlurmOptions, script: Path, argv: list[str], *, job_name: str,
                cwd: Path, log_file: Path, tasks: int = 1) -> list[str]:
    """One step as a batch job: its output appended to the run's log, the
    server's environment exported (the step's variables travel that way)."""
    return ["sbatch", "--parsable", f"--job-name={job_name}", f"--chdir={cwd}",
            f"--output={log_file}", "--open-mode=append", "--export=ALL",
            *options.argv(tasks), "--", str(script), *argv]


def parse_job_id(sbatch_output: str) -> str:
    """``sbatch --parsable`` prints "id" or "id;cluster"."""
    first = sbatch_output.strip().splitlines()[0] if sbatch_output.strip() else ""
    job_id = first.split(";", 1)[0].strip()
    if not job_id.isdigit():
        raise ValueError(f"sbatch printed no job id: {sbatch_output.strip()[:200]!r}")
    return job_id


def squeue_argv() -> list[str]:
    """Every job Slurm still holds (pending and running), ours and others':
    a pending job's place counts the jobs before it."""
    return ["squeue", "--noheader", f"--format={SQUEUE_FORMAT}"]


def parse_start(text: str) -> float | None:
    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:  # "N/A", "Unknown"
        return None


def parse_squeue(text: str) -> dict[str, QueueEntry]:
    entries = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 7 or not fields[0]:
            continue
        job_id, state, nodes, start, priority, partition, reason = fields
        entries[job_id] = QueueEntry(job_id, state, nodes, parse_start(start),
                                     int(priority) if priority.isdigit() else 0,
                                     partition, reason)
    return entries


def queue_position(entries: dict[str, QueueEntry], job_id: str) -> int | None:
    """1 = the next pending job of its partition to start (Slurm starts the
    highest priority first, then the oldest); None when not pending."""
    entry = entries.get(job_id)
    if entry is None or not entry.pending:
        return None
    ahead = [e for e in entries.values() if e.pending and e.partition == entry.partition
             and (-e.priority, _number(e.job_id)) < (-entry.priority, _number(job_id))]
    return len(ahead) + 1


def _number(job_id: str) -> int:
    return int(job_id.split("_", 1)[0]) if job_id.split("_", 1)[0].isdigit() else 0


def parse_scontrol(text: str) -> dict[str, str]:
    """``scontrol show job -o ID``: one line of Key=Value pairs."""
    fields = {}
    for part in text.split():
        key, _, value = part.partition("=")
        if key and key not in fields:
            fields[key] = value
    return fields


def exit_code_of(fields: dict[str, str]) -> int | None:
    """ExitCode=3:0 -> 3; killed by a signal (0:15) -> 128 + 15."""
    code, _, signal = fields.get("ExitCode", "").partition(":")
    if not code.isdigit():
        return None
    if int(code) == 0 and signal.isdigit() and int(signal):
        return 128 + int(signal)
    return int(code)


def why_it_ended(fields: dict[str, str]) -> str:
    """Slurm's words for a job that did not complete ("" when it did)."""
    state = fields.get("JobState", "")
    if state in ("", "COMPLETED"):
        return ""
    reason = fields.get("Reason", "")
    return f"Slurm ended the job: {state}" + (f" ({reason})" if reason not in ("", "None") else "")
