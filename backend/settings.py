"""One Settings object, read once from flags and environment variables."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from backend.runs.slots import slots_per_device
from backend.runs.slurm.commands import SlurmOptions
from backend.training.user_quota import DEFAULT_QUOTA_GB

PROFILES = ("auto", "demo", "internstudio", "custom")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    work_dir: Path = Path("work")
    models_dir: Path | None = None
    profile: str = "auto"
    llm_path: Path | None = None
    visual_encoder_path: Path | None = None
    pretrained_pth: Path | None = None
    max_queue: int = 8
    max_upload_mb: int = 20
    max_waiting: int = 64
    train_threads: int | None = None  # None: backend/runs/thread_share.py decides
    recipe: str = "auto"
    gpus: str = ""
    gpus_per_run: int = 1
    runs_per_device: str = "auto"
    max_active_per_user: int = 1
    deepspeed: str = ""
    auth: tuple[str, ...] = ()
    auth_file: Path | None = None
    allow_cpu: bool = False
    login_failures: int = 10
    user_quota_gb: float = DEFAULT_QUOTA_GB
    executor: str = "local"
    warm_trainers: str = "auto"
    slurm: SlurmOptions = SlurmOptions()


def _env(name: str, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def _runs_per_device(value: str) -> str:
    try:
        slots_per_device(value, gpu=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _at_least_one(value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a number from 1, not {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py", description="XTuner LLaVA Studio: the XTuner LLaVA lesson in one page.")
    add = parser.add_argument
    add("--host", default=_env("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (env GRADIO_SERVER_NAME; default 127.0.0.1)")
    add("--port", type=int, default=int(_env("GRADIO_SERVER_PORT", 7860)),
        help="port (env GRADIO_SERVER_PORT; default 7860)")
    add("--share", action="store_true", default=_env("STUDIO_SHARE", "0") == "1",
        help="create a public gradio share link (env STUDIO_SHARE=1)")
    add("--work-dir", type=Path, default=Path(_env("STUDIO_WORK_DIR", "work")),
        help="where datasets, runs, models and the run registry live (env STUDIO_WORK_DIR)")
    add("--models-dir", type=Path, default=_env("STUDIO_MODELS_DIR"),
        help="where the demo profile caches its built models (env STUDIO_MODELS_DIR; "
             "default WORK_DIR/models)")
    add("--profile", choices=PROFILES, default=_env("STUDIO_PROFILE", "auto"),
        help="model profile: demo (small models built locally), internstudio (the "
             "lesson's /root/share paths), custom (the three paths below); auto picks "
             "internstudio when its paths exist, else demo (env STUDIO_PROFILE)")
    add("--llm", type=Path, default=_env("STUDIO_LLM_PATH"),
        help="custom profile: InternLM2-Chat folder (env STUDIO_LLM_PATH)")
    add("--visual-encoder", type=Path, default=_env("STUDIO_VISUAL_ENCODER_PATH"),
        help="custom profile: CLIP ViT folder (env STUDIO_VISUAL_ENCODER_PATH)")
    add("--pretrained-pth", type=Path, default=_env("STUDIO_PRETRAINED_PTH"),
        help="custom profile: pretrain-stage checkpoint, e.g. iter_2181.pth "
             "(env STUDIO_PRETRAINED_PTH)")
    add("--max-queue", type=int, default=int(_env("STUDIO_MAX_QUEUE", 8)),
        help="most runs waiting in the queue (env STUDIO_MAX_QUEUE)")
    add("--max-upload-mb", type=int, default=int(_env("STUDIO_MAX_UPLOAD_MB", 20)),
        help="largest upload accepted, in MB (env STUDIO_MAX_UPLOAD_MB)")
    add("--max-waiting", type=int, default=int(_env("STUDIO_MAX_WAITING", 64)),
        help="most requests (chats, compares) waiting in gradio's queue; more are told "
             "to retry (env STUDIO_MAX_WAITING)")
    threads = _env("STUDIO_TRAIN_THREADS")
    add("--train-threads", type=int, default=int(threads) if threads else None,
        help="CPU threads (OpenMP) of every training run's processes (env "
             "STUDIO_TRAIN_THREADS). Default: 1 on a CPU; on this machine's GPUs each "
             "run takes, at its start, the cores that running runs do not hold, at most 8")
    add("--recipe", choices=("auto", "fast", "lesson"), default=_env("STUDIO_RECIPE", "auto"),
        help="each run's default CUDA training recipe (a run may choose the other on the "
             "Finetune tab): auto (the default: fast wherever its memory estimate fits the "
             "GPUs, else lesson), fast (bf16 LoRA on the LLM, CLIP frozen: under 0.2x the "
             "lesson's CLI flow on an H200; see docs/gpu.md), lesson (the lesson's 4-bit QLoRA, "
             "as taught) (env STUDIO_RECIPE)")
    add("--gpus", default=_env("STUDIO_GPUS", ""),
        help="the GPUs runs share: '' or all (default: every GPU), auto (the one with most "
             "free memory), a count (the N with most free memory), or indices like 0,1 "
             "(env STUDIO_GPUS)")
    add("--gpus-per-run", type=_at_least_one, default=_env("STUDIO_GPUS_PER_RUN", "1"),
        help="GPUs one run takes (default 1); more launches torchrun over that many whole "
             "GPUs, with --deepspeed if given (env STUDIO_GPUS_PER_RUN)")
    add("--runs-per-device", type=_runs_per_device,
        default=_env("STUDIO_RUNS_PER_DEVICE", "auto"),
        help="runs training at once on one device: auto (default; a GPU takes as many as "
             "its free memory admits, at most 8; the CPU takes 1) or a number; on a GPU "
             "memory is checked either way (env STUDIO_RUNS_PER_DEVICE)")
    add("--max-active-per-user", type=_at_least_one,
        default=_env("STUDIO_MAX_ACTIVE_PER_USER", "1"),
        help="runs one logged-in user may have training or converting at once; their "
             "further runs wait while classmates' start (default 1). Without login there "
             "is one user and no limit (env STUDIO_MAX_ACTIVE_PER_USER)")
    add("--deepspeed", choices=("", "deepspeed_zero2"), default=_env("STUDIO_DEEPSPEED", ""),
        help="DeepSpeed config for CUDA training, as the lesson runs it (env STUDIO_DEEPSPEED)")
    add("--auth", action="append", default=[a for a in (_env("STUDIO_AUTH", "")).split(",") if a],
        help="user:password that may log in; repeat for more (env STUDIO_AUTH, comma-separated). "
             "Turns on login for every page and API call")
    add("--auth-file", type=Path, default=_env("STUDIO_AUTH_FILE"),
        help="CSV class list: username,password[,role] with role student or teacher "
             "(env STUDIO_AUTH_FILE)")
    add("--allow-cpu", action="store_true", default=_env("STUDIO_ALLOW_CPU", "0") == "1",
        help="let the real-size profiles (internstudio, custom) train on the CPU when torch "
             "has no GPU, which takes days; refused without it (env STUDIO_ALLOW_CPU=1)")
    add("--login-failures", type=int, default=int(_env("STUDIO_LOGIN_FAILURES", 10)),
        help="failed logins for one username or one client address within 5 minutes "
             "before login answers HTTP 429 for a cool-down that doubles each time "
             "(1 minute first); 0 = no limit (env STUDIO_LOGIN_FAILURES)")
    add("--user-quota-gb", type=float,
        default=float(_env("STUDIO_USER_QUOTA_GB", DEFAULT_QUOTA_GB)),
        help="disk each logged-in user may fill with datasets and runs (queued runs count "
             f"their estimate); 0 = no quota (env STUDIO_USER_QUOTA_GB; default {DEFAULT_QUOTA_GB:g})")
    add("--executor", choices=("local", "slurm"), default=_env("STUDIO_EXECUTOR", "local"),
        help="where runs train: local (default: this machine's GPUs or CPU) or slurm (each "
             "step a batch job on the cluster; WORK_DIR must be on a file system the nodes "
             "share; see docs/cluster.md) (env STUDIO_EXECUTOR)")
    add("--warm-trainers", choices=("auto", "on", "off"),
        default=_env("STUDIO_WARM_TRAINERS", "auto"),
        help="keep one xtuner process per device with its imports done, ready for the next "
             "run's training or conversion (8-20 s sooner each; about 1 GB of memory each "
             "while it waits): auto (default: on when this machine's GPUs train), on, off "
             "(env STUDIO_WARM_TRAINERS)")
    add("--slurm-partition", default=_env("STUDIO_SLURM_PARTITION", ""),
        help="Slurm partition for runs (default: the cluster's default partition) "
             "(env STUDIO_SLURM_PARTITION)")
    add("--slurm-gres", default=_env("STUDIO_SLURM_GRES", "gpu:1"),
        help="generic resources each run asks for (default gpu:1; shard:N shares a GPU "
             "between jobs; none asks for none, e.g. a CPU-only cluster) (env STUDIO_SLURM_GRES)")
    add("--slurm-account", default=_env("STUDIO_SLURM_ACCOUNT", ""),
        help="Slurm account charged for the runs (default: the user's default) "
             "(env STUDIO_SLURM_ACCOUNT)")
    add("--slurm-time", default=_env("STUDIO_SLURM_TIME", ""),
        help="time limit of each job, in Slurm's format, e.g. 2:00:00 (default: the "
             "partition's) (env STUDIO_SLURM_TIME)")
    return parser


def parse_settings(argv: list[str] | None = None) -> Settings:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.train_threads is not None and args.train_threads < 1:
        parser.error(f"--train-threads must be 1 or more; got {args.train_threads}.")
    return Settings(host=args.host, port=args.port, share=args.share,
                    work_dir=args.work_dir.resolve(), profile=args.profile,
                    models_dir=(args.models_dir or args.work_dir / "models").resolve(),
                    llm_path=args.llm, visual_encoder_path=args.visual_encoder,
                    pretrained_pth=args.pretrained_pth, max_queue=args.max_queue,
                    max_upload_mb=args.max_upload_mb, max_waiting=args.max_waiting, train_threads=args.train_threads,
                    recipe=args.recipe, gpus=args.gpus, deepspeed=args.deepspeed,
                    gpus_per_run=args.gpus_per_run, runs_per_device=args.runs_per_device,
                    max_active_per_user=args.max_active_per_user,
                    auth=tuple(args.auth), auth_file=args.auth_file,
                    allow_cpu=args.allow_cpu, login_failures=args.login_failures,
                    user_quota_gb=args.user_quota_gb, executor=args.executor,
                    warm_trainers=args.warm_trainers,
                    slurm=SlurmOptions(partition=args.slurm_partition,
                                       gres="" if args.slurm_gres == "none" else args.slurm_gres,
                                       account=args.slurm_account, time=args.slurm_time))
