"""Launch probe on ONE GPU: the app's DeepSpeed and torchrun launches, run for real.

The issue's 2-GPU run needs a 2-GPU machine; until one is lent, this runs the
same code paths with one process, so a broken launch shows up before then:

  ds_plain      the app's 1-GPU argv (backend/training/gpu.py Launch) + --deepspeed deepspeed_zero2:
                the lesson's own `xtuner train ... --deepspeed deepspeed_zero2`
  ds_torchrun   the app's multi-GPU argv shape (torchrun ... --launcher pytorch) + ZeRO-2,
                with --nproc_per_node=1
  ddp_torchrun  the same without DeepSpeed (plain DDP)

Lesson recipe (4-bit QLoRA), 6 x 2 samples. Usage on the device: bash bench/device/launch_probe.sh
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.suite import procs  # noqa: E402
from bench.suite.build_models import build_all  # noqa: E402
from bench.suite.fixtures import CORPUS, QA, base_env, make_dataset  # noqa: E402

CASES = {"ds_plain": ("deepspeed_zero2", False), "ds_torchrun": ("deepspeed_zero2", True),
         "ddp_torchrun": ("", True)}


def argv_for(launch_cls, config_file: Path, work: Path, deepspeed: str, torchrun: bool):
    """The app's argv; for torchrun, the 2-GPU shape with one process."""
    if not torchrun:
        launch = launch_cls((0,), deepspeed=deepspeed)
        return launch.train_argv(config_file, work), launch.env()
    two = launch_cls((0, 1), deepspeed=deepspeed)
    argv = [a.replace("--nproc_per_node=2", "--nproc_per_node=1")
            for a in two.train_argv(config_file, work)]
    env = {**two.env(), "CUDA_VISIBLE_DEVICES": "0", "NPROC_PER_NODE": "1"}
    return argv, env


def first_error(text: str) -> str:
    """The first exception line (torchrun's own ChildFailedError only repeats it)."""
    for line in text.splitlines():
        if re.search(r"(Error|Exception):", line) and "ChildFailedError" not in line:
            return line.strip().removeprefix("[rank0]: ")[:200]
    return "see the log"


def main() -> None:
    from backend.xtuner import recipes
    from backend.training.gpu import Launch
    from backend.runs.checkpoints import latest_checkpoint
    from backend.xtuner.config import TrainConfig, write_configs

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--budget-s", type=float, default=480)
    args = parser.parse_args()
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    paths, build_s = build_all(Path("/tmp/studio-bench/models"), CORPUS, "cuda")
    results: dict = {"build_s": round(build_s, 1)}
    from backend.training.service import with_usable_warmup

    # 12 iterations: the warm-up stretched as TrainingService does it.
    options = with_usable_warmup(recipes.LESSON.options.with_updates(
        {"evaluation_freq": 500, "save_steps": 500}), 12)
    for name in args.cases.split(","):
        left = args.budget_s - (time.monotonic() - started)
        if left < 90:
            results[name] = {"skipped": f"{left:.0f} s left"}
            continue
        deepspeed, torchrun = CASES[name]
        run = Path(f"/tmp/probe-{name}")
        data, image, questions = make_dataset(run / "data", 2)
        questions.write_text(json.dumps([QA[0][0]]))  # one evaluation question: short passes
        config = TrainConfig(
            llm_path=paths.llm, visual_encoder_path=paths.visual_encoder,
            pretrained_pth=paths.pretrained_pth, data_file=data, image_file=image,
            questions_file=questions, work_dir=run, options=options, device="cuda",
            quantize_4bit=True, recipe=recipes.LESSON, deepspeed=deepspeed)
        write_configs(config)
        argv, launch_env = argv_for(Launch, config.config_file, run / "train", deepspeed,
                                    torchrun)
        env = {**base_env(8), **launch_env}
        result = procs.run(argv, env, args.out / f"{name}.log", timeout_s=left - 30)
        checkpoint = latest_checkpoint(run / "train")
        text = result.text
        results[name] = {
            "argv": argv, "rc": result.rc, "seconds": round(result.seconds, 1),
            "stats": procs.train_stats(result),
            "checkpoint": checkpoint.name if checkpoint else None,
            "checkpoint_is_dir": bool(checkpoint and checkpoint.is_dir()),
            "distributed_lines": [line.strip() for line in text.splitlines()
                                  if any(k in line for k in ("Distributed", "world_size",
                                                             "GPU number", "[Rank", "ZeRO",
                                                             "zero_optimization"))][:12],
            "failure": "" if result.rc == 0 else first_error(text),
            "error_tail": "" if result.rc == 0 else text[-2500:]}
        (args.out / "results_launch.json").write_text(json.dumps(results, indent=2, default=str))
        print(name, "rc", result.rc, "checkpoint", results[name]["checkpoint"], flush=True)
    (args.out / "results_launch.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
