"""JobManager tests' helpers: a run of the fake trainer, waiting for its state,
a trainer left behind by a crashed server, fake GPUs whose free memory the
live fake trainers take."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from backend.runs.registry import RunRegistry
from backend.runs.slots import GpuMemory
from backend.runs.spec import LATEST_CHECKPOINT, JobSpec, Step, alive
from tests.support.polling import poll_until

FAKES = Path(__file__).parent / "fakes"


def spec_for(root: Path, run_id: str, **env) -> JobSpec:
    run_dir = root / "runs" / run_id
    train = [sys.executable, str(FAKES / "fake_train.py"), "cfg.py", "--work-dir",
             str(run_dir / "train")]
    convert = [sys.executable, str(FAKES / "fake_convert.py"), "cfg.py", LATEST_CHECKPOINT,
               str(run_dir / "hf_finetuned")]
    return JobSpec(run_id=run_id, dataset_id="ds-x", run_dir=run_dir,
                   steps=[Step("train", train), Step("convert", convert, "converting")],
                   max_iters=int(env.get("FAKE_ITERS", 6)),
                   env={k: str(v) for k, v in env.items()})


def wait_for(manager, run_id, states, timeout=60):
    """The run's snapshot once its state is one of ``states``."""
    return poll_until(lambda: (snap := manager.snapshot(run_id))["state"] in states and snap,
                      timeout, message=lambda: f"{run_id} stuck in "
                                               f"{manager.snapshot(run_id)['state']}")


def wait_iter(manager, run_id, at_least, timeout=60):
    """The run's snapshot once it has trained ``at_least`` iterations."""
    return poll_until(lambda: (snap := manager.snapshot(run_id))["iter"] >= at_least and snap,
                      timeout, message=lambda: f"{run_id} at {manager.snapshot(run_id)}")


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process in the group? Zombies reparented to a
    PID 1 that does not reap them hold no resources, so they do not count."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def left_behind(tmp_path, run_id, device="", owner="", **env):
    """The trainer a crashed server left behind, still running in its own
    session, and the registry row that server wrote for it (``device``: where
    it placed it; "" as a server from before devices were recorded)."""
    registry = RunRegistry(tmp_path / "studio.db")
    spec = spec_for(tmp_path, run_id, **env)
    spec.owner = owner
    spec.run_dir.mkdir(parents=True)
    spec.save()
    registry.add(run_id, "ds-x", owner, {}, spec.max_iters)
    orphan = subprocess.Popen(spec.steps[0].argv, cwd=spec.run_dir, start_new_session=True,
                              env={**os.environ, **spec.env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    registry.update(run_id, state="running", pid=orphan.pid, step="train",
                    started_at=time.time(), device=device)
    return spec, orphan


class FakeGpus:
    """JobManager's ``memory`` for fake GPUs: each GPU's total less what the
    live fake trainers under ``root`` declared on it (FAKE_GPU_BYTES)."""

    def __init__(self, root: Path, total: dict[int, int]):
        self.root, self.total = root, total

    def declared(self) -> list[dict]:
        found = []
        for path in self.root.glob("runs/*/train/fake_gpu.json"):
            try:
                found.append({**json.loads(path.read_text()), "run_id": path.parent.parent.name})
            except (OSError, ValueError):
                continue  # being written
        return found

    def __call__(self) -> GpuMemory:
        """Free memory per GPU and, as nvidia-smi's process list gives it, what
        each trainer's process group holds there."""
        free, used = dict(self.total), {}
        for entry in self.declared():
            if alive(entry["pid"]):
                for index in entry["gpus"]:
                    free[index] -= entry["bytes"]
                    used[(index, os.getpgid(entry["pid"]))] = entry["bytes"]
        return GpuMemory(free=free, used=used)
