"""Builds every backend service from Settings (the app's one factory)."""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from backend.access.accounts import Accounts, parse_pair, read_credentials_file
from backend.models.resident import ResidentChat
from backend.compare.service import CompareService
from backend.data.store import DatasetStore
from backend.training.gpu_check import GpuProblem, check_gpu_stack, cpu_training_refusal
from backend.runs.executor import LocalExecutor
from backend.runs.warm_trainers import WarmTrainers
from backend.runs.jobs import JobManager
from backend.runs.slots import DevicePool, GpuMemory
from backend.runs.thread_share import ThreadShare, machine_cores
from backend.models.background import BackgroundModels, ModelsNotReady
from backend.models.profiles import Profile, choose_profile
from backend.access.rules import RunAccess
from backend.runs.registry_repair import RegistryRepair, open_registry
from backend.runs.clock import record_launch
from backend.runs.registry_writes import BufferedRegistry
from backend.training.disk_budget import DiskBudget, registry_state
from backend.training.user_quota import UserQuota
from backend.data.upload_cleaner import UploadCleaner
from backend.settings import Settings
from backend.data.special_tokens import special_tokens_at
from backend.training.service import TrainingService
from backend.xtuner.config import TrainOptions

# The lesson's own hyperparameters reproduce its before/after on the demo's
# tiny models (measured: ROUGE-L 1.0 finetuned, <= 0.11 base, 3 pairs x 200);
# only the length is cut to what the tiny models use.
DEMO_OPTIONS = TrainOptions(max_length=256)
LESSON_OPTIONS = TrainOptions()


@dataclass
class Services:
    settings: Settings
    profile: Profile
    models: BackgroundModels
    datasets: DatasetStore
    jobs: JobManager
    training: TrainingService
    compare: CompareService
    device: str
    accounts: Accounts
    access: RunAccess
    # A GPU that nvidia-smi shows and torch cannot use (the page and log say so).
    gpu_problem: GpuProblem | None = None
    # Set when studio.db was damaged and rebuilt at start-up (the page says so).
    registry_repair: RegistryRepair | None = None
    # The work dir's disk: reservations, "full", "low" (training/disk_budget.py).
    budget: DiskBudget | None = None
    quota: UserQuota | None = None
    # Cleans gradio's upload cache of old files no request holds.
    uploads: UploadCleaner | None = None

    def close(self) -> None:
        self.jobs.shutdown()
        self.jobs.executor.close()  # waiting warm trainers go; running steps stay
        if self.uploads is not None:
            self.uploads.stop()


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_services(settings: Settings) -> Services:
    work = settings.work_dir
    work.mkdir(parents=True, exist_ok=True)
    profile = choose_profile(settings)
    models = BackgroundModels(profile).start()
    device = _device()
    gpu_problem = check_gpu_stack() if device == "cpu" else None
    registry, registry_repair = open_registry(work / "studio.db", work / "runs")
    if registry_repair is not None:
        logging.warning("%s", registry_repair.describe())
    # A full disk must not kill the job worker: state writes wait in memory.
    registry = BufferedRegistry(registry, disk_full=lambda error: budget.full_now(error))
    budget = DiskBudget(work, registry_state(registry))
    budget.load_reservations(work / "runs")
    # Chat and training share the GPU; JobManager says which runs are starting where.
    resident = ResidentChat(models.wait, device, starting_gpus=lambda: jobs.starting_gpus())

    # Before the JobManager: a setting that stops the app (DeepSpeed missing,
    # an unknown GPU) must stop it before the worker could start a queued run.
    cluster_gpus = cluster_gpu_launcher(settings)  # Slurm's GPUs, not this machine's
    gpu = None if cluster_gpus else _gpu_setup(settings, device)
    accounts = load_accounts(settings)

    def after_job(spec, _outcome) -> None:
        # Elapsed time counts every launch of a run (Resume starts a new one).
        record = registry.get(spec.run_id) or {}
        record_launch(spec.run_dir, record.get("started_at"), record.get("ended_at"))

    pool, memory = device_pool(settings, gpu, resident)
    jobs = JobManager(registry, max_queue=settings.max_queue, before_job=resident.before_job,
                      after_job=after_job, pool=pool, memory=memory,
                      executor=run_executor(settings, device),
                      thread_share=thread_share(settings, gpu))
    jobs.reconcile(work / "runs")

    def admit_dataset(owner: str, size: int) -> None:
        budget.check_writable()
        quota.check(owner, size)

    datasets = DatasetStore(work, model_tokens=lambda: ready_model_tokens(models),
                            admit=admit_dataset)
    quota = UserQuota(settings.user_quota_gb, datasets, jobs, budget,
                      applies=lambda owner: accounts.enabled and bool(owner))
    options = DEMO_OPTIONS if profile.name == "demo" else LESSON_OPTIONS
    training = TrainingService(datasets, jobs, work / "runs", models.wait, options,
                               device="cuda" if cluster_gpus else device,
                               threads=settings.train_threads or 1,
                               python=sys.executable, gpu=gpu,
                               released_before_run=resident.reserved_bytes,
                               refusal=None if cluster_gpus else cpu_training_refusal(
                                   profile.name, device, gpu_problem, settings.allow_cpu),
                               budget=budget, quota=quota, launcher=cluster_gpus)
    training.warm_up()
    compare = CompareService(resident.chat, jobs, work / "scratch", model_paths=models.wait)
    return Services(settings, profile, models, datasets, jobs, training, compare, device,
                    accounts, RunAccess(accounts, jobs, datasets), gpu_problem=gpu_problem,
                    registry_repair=registry_repair, budget=budget, quota=quota,
                    uploads=UploadCleaner().start())


def thread_share(settings: Settings, gpu) -> ThreadShare | None:
    """Runs on this machine's GPUs share its cores (backend/runs/thread_share.py)
    unless --train-threads fixes every run's count; a CPU run keeps the spec's."""
    if gpu is None or settings.executor != "local" or settings.train_threads is not None:
        return None
    return ThreadShare(machine_cores())


def _gpu_setup(settings: Settings, device: str):
    """Recipe, GPUs and launch for CUDA training (None on a CPU)."""
    if device != "cuda":
        return None
    from backend.training.gpu import gpu_setup

    gpus = settings.gpus or "all"
    if gpus.isdigit() and "," not in gpus and int(gpus) > 0 and len(gpus) < 3:
        gpus = int(gpus)  # "2" = two GPUs; "0,1" = exactly those
    return gpu_setup(settings.recipe, gpus, settings.deepspeed,
                     gpus_per_run=settings.gpus_per_run)


def run_executor(settings: Settings, device: str):
    """Where runs' steps run: this machine, or Slurm jobs (checked first: a
    job must see WORK_DIR, or the server refuses to start)."""
    if settings.executor != "slurm":
        warm = settings.warm_trainers == "on" or (settings.warm_trainers == "auto"
                                                  and device == "cuda")
        return LocalExecutor(WarmTrainers(settings.work_dir / "logs" / "warm-trainers.log")
                             if warm else None)
    from backend.runs.slurm.executor import SlurmExecutor
    from backend.runs.slurm.shared_folder import check_shared_folder

    executor = SlurmExecutor(settings.slurm, settings.work_dir / "slurm")
    check_shared_folder(executor, settings.work_dir)
    return executor


def cluster_gpu_launcher(settings: Settings):
    """With --executor slurm asking for GPUs (--slurm-gres gpu:… or shard:…, or
    --gpus-per-run above 1): how runs train on the nodes' GPUs, whatever this
    server has. None otherwise (runs train as this machine would)."""
    kinds = {part.split(":", 1)[0] for part in settings.slurm.gres.split(",") if part}
    if settings.executor != "slurm" or not (kinds & {"gpu", "shard"}
                                             or settings.gpus_per_run > 1):
        return None
    from backend.training.gpu import check_deepspeed, choose_recipe
    from backend.training.launchers import ClusterGpuLauncher

    check_deepspeed(settings.deepspeed)
    # "auto" measures this machine's GPUs, which say nothing of the nodes'.
    recipe = choose_recipe("lesson" if settings.recipe == "auto" else settings.recipe, False)
    return ClusterGpuLauncher(recipe, settings.gpus_per_run, settings.deepspeed)


def device_pool(settings: Settings, gpu, resident: ResidentChat):
    """The devices runs share (the CPU, or the GPUs of ``gpu``: a GpuSetup;
    a cluster's nodes are its scheduler's) and, on GPUs, how their free
    memory is measured for the scheduler."""
    if settings.executor == "slurm":
        return DevicePool.for_cluster(settings.max_active_per_user), None
    if gpu is None:
        return DevicePool.for_cpu(settings.runs_per_device, settings.max_active_per_user), None
    from backend.training.gpu import list_gpus
    from backend.training.gpu_processes import group_usage

    def measure() -> GpuMemory:
        now = {info.index: info.free_bytes for info in list_gpus()}
        return GpuMemory(free={i: now[i] for i in gpu.pool if i in now},
                         reclaimable=resident.reserved_bytes(),
                         unsettled=resident.loading_gpus(),
                         used={key: used for key, used in group_usage().items()
                               if key[0] in gpu.pool})

    return DevicePool.for_gpus(gpu.free_bytes, settings.runs_per_device,
                               settings.max_active_per_user), measure


def load_accounts(settings: Settings) -> Accounts:
    accounts = [parse_pair(pair) for pair in settings.auth]
    if settings.auth_file:
        accounts += read_credentials_file(settings.auth_file)
    return Accounts(accounts)


def ready_model_tokens(models: BackgroundModels) -> frozenset[str]:
    """The model tokenizer's special tokens once the models are there; none
    before (a dataset build does not wait for them: a run's start checks)."""
    try:
        paths = models.wait(timeout=0)
    except ModelsNotReady:
        return frozenset()
    return special_tokens_at(paths.llm)
