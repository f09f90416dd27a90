"""What a run is on disk: its steps (argument lists), job.json, checkpoints."""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backend.runs.checkpoints import latest_checkpoint, resume_argv
from backend.runs.slots import Want

LOG_NAME = "run.log"
JOB_FILE = "job.json"
LATEST_CHECKPOINT = "{latest_checkpoint}"
# In a step's argument (torchrun's --master_port={free_port}): a port free
# when the step starts, so runs on several GPUs at once never share one.
FREE_PORT = "{free_port}"
# Written into a run's train folder to ask its trainer to save a checkpoint at
# the end of the current iteration and exit (backend/xtuner/trainer_side/hooks.py
# SaveOnStopHook): a stopped run then resumes where it stopped, not at its last
# save_steps checkpoint.
STOP_REQUEST_FILE = "stop_requested"
# "run-" + 10 hex digits; files the app hands out start with it (ui/security.py).
RUN_ID_PATTERN = r"run-[0-9a-f]{10}"


def new_run_id() -> str:
    return "run-" + secrets.token_hex(5)


@dataclass(frozen=True)
class Step:
    name: str
    argv: list[str]
    state: str = "running"  # registry state while this step runs
    tasks: int = 1          # processes a cluster job starts (one per GPU of a multi-GPU run)


@dataclass
class JobSpec:
    run_id: str
    dataset_id: str
    run_dir: Path
    steps: list[Step]
    max_iters: int
    owner: str = ""
    options: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    train_dir_name: str = "train"
    # What the scheduler needs to place it: estimated peak bytes per GPU (0 on
    # the CPU) and how many GPUs one launch takes (torchrun's processes).
    memory_bytes: int = 0
    device_count: int = 1

    def want(self) -> Want:
        """What the device pool needs to know to place it."""
        return Want(self.run_id, self.owner, self.memory_bytes, self.device_count)

    def save(self) -> None:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        (self.run_dir / JOB_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, run_dir: Path) -> "JobSpec":
        data = json.loads((run_dir / JOB_FILE).read_text(encoding="utf-8"))
        data["run_dir"] = Path(data["run_dir"])
        data["steps"] = [Step(**step) for step in data["steps"]]
        return cls(**data)

    @property
    def train_dir(self) -> Path:
        return self.run_dir / self.train_dir_name

    @property
    def log_file(self) -> Path:
        return self.run_dir / LOG_NAME


def request_stop(train_dir: Path) -> None:
    """Ask the trainer working in train_dir to save and end (SaveOnStopHook)."""
    train_dir.mkdir(parents=True, exist_ok=True)
    (train_dir / STOP_REQUEST_FILE).write_text("stop\n", encoding="ascii")


def stop_requested(train_dir: Path) -> bool:
    return (train_dir / STOP_REQUEST_FILE).exists()


def clear_stop_request(train_dir: Path) -> None:
    """Before a step starts: an earlier attempt's request must not end this one."""
    (train_dir / STOP_REQUEST_FILE).unlink(missing_ok=True)


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def resume_from_latest(spec: JobSpec) -> None:
    """The training step continues from the run's latest checkpoint."""
    checkpoint = latest_checkpoint(spec.train_dir)
    steps = list(spec.steps)
    if checkpoint is not None:
        first = steps[0]
        steps[0] = Step(first.name, resume_argv(first.argv, checkpoint), first.state)
    spec.steps = steps
    spec.save()
