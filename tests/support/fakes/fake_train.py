"""A stand-in for ``python -m xtuner.tools.train``: same files, no model.

Usage: fake_train.py CONFIG --work-dir DIR [--resume CKPT]
Env: FAKE_ITERS (default 6), FAKE_SLEEP seconds per iteration (0.05),
FAKE_FAIL_AT iteration that raises, FAKE_CHILD=1 spawns a child in the group,
FAKE_STARTUP seconds before the first iteration (model loading), FAKE_WAIT_FOR
a file whose appearance ends that loading (the test decides when),
FAKE_GPU_BYTES memory it "takes" on the GPUs of CUDA_VISIBLE_DEVICES once
loaded, FAKE_HOLD_AFTER_LOAD a file whose appearance lets it start iterating
after that: declared in DIR/fake_gpu.json with its pid, environment and argv
(tests/support/jobs.py FakeGpus turns the live ones into free memory).
Like the real one (SaveOnStopHook), it saves and exits 0 after the iteration
during which a stop_requested file appears in DIR, unless FAKE_IGNORE_STOP=1.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def main():
    args = sys.argv[1:]
    work = Path(args[args.index("--work-dir") + 1])
    start = 0
    if "--resume" in args:
        start = int(Path(args[args.index("--resume") + 1]).stem.split("_")[1])
        print(f"resumed from iteration {start}", flush=True)
    iters = int(os.environ.get("FAKE_ITERS", 6))
    pause = float(os.environ.get("FAKE_SLEEP", 0.05))
    fail_at = int(os.environ.get("FAKE_FAIL_AT", 0))
    if os.environ.get("FAKE_CHILD"):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(143)))
    time.sleep(float(os.environ.get("FAKE_STARTUP", 0)))
    wait_for = os.environ.get("FAKE_WAIT_FOR")
    while wait_for and not Path(wait_for).exists():
        time.sleep(0.05)
    declare_gpu_memory(work, args)
    # Loaded (its memory taken) but no iteration yet: "starting" to the scheduler.
    hold = os.environ.get("FAKE_HOLD_AFTER_LOAD")
    while hold and not Path(hold).exists():
        time.sleep(0.05)
    vis = work / time.strftime("%Y%m%d_%H%M%S") / "vis_data"
    vis.mkdir(parents=True, exist_ok=True)
    with open(vis / "scalars.json", "a") as scalars:
        for it in range(start + 1, iters + 1):
            if it == fail_at:
                raise RuntimeError(f"CUDA out of memory at iteration {it} (fake)")
            loss = 3.0 / it
            print(f"Iter(train) [{it}/{iters}]  lr: 1e-4  loss: {loss:.4f}", flush=True)
            scalars.write(json.dumps({"lr": 1e-4, "loss": loss, "time": pause, "iter": it})
                          + "\n")
            scalars.flush()
            stop = (work / "stop_requested").exists() and not os.environ.get("FAKE_IGNORE_STOP")
            if it % 2 == 0 or it == iters or stop:
                (work / f"iter_{it}.pth").write_bytes(b"fake")
                (work / "last_checkpoint").write_text(str(work / f"iter_{it}.pth"))
            if stop:
                print(f"Stop requested: saved at {it}", flush=True)
                return
            time.sleep(pause)


def declare_gpu_memory(work: Path, args: list) -> None:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    work.mkdir(parents=True, exist_ok=True)
    (work / "fake_gpu.json").write_text(json.dumps({
        "pid": os.getpid(), "bytes": int(os.environ.get("FAKE_GPU_BYTES", 0)),
        "gpus": [int(i) for i in visible.split(",") if i],
        "nproc": os.environ.get("NPROC_PER_NODE"), "port": os.environ.get("PORT"),
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "argv": args}))


if __name__ == "__main__":
    main()
