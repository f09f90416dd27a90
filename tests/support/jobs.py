"""JobManager tests' helpers: a run of the fake trainer, waiting for its state."""
import sys
from pathlib import Path

from backend.runs.spec import LATEST_CHECKPOINT, JobSpec, Step
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
