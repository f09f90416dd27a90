"""A GPU that nvidia-smi shows but torch cannot use: found at start-up, said loudly.

torch quietly falls back to the CPU when its CUDA build does not fit the driver (a
CUDA 13.0 torch on a CUDA 12.2 driver, a CPU-only torch on a GPU machine). The app
then says which GPU, the driver's CUDA, torch's CUDA and the one command that fixes
it, and refuses to train the real-size models on the CPU (days) unless told to.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from backend.training.torch_build import NoTorchBuild, choose_build, driver_cuda

ROOT = Path(__file__).resolve().parents[2]
# Profiles whose models are the lesson's real ones (1.8B LLM + CLIP-L), not the demo's.
REAL_SIZE_PROFILES = ("internstudio", "custom")
ALLOW_CPU_HINT = "start the app with --allow-cpu (STUDIO_ALLOW_CPU=1)"


class CpuTrainingRefused(ValueError):
    """Training the real-size models on the CPU without --allow-cpu (message says why)."""


@dataclass(frozen=True)
class SmiReport:
    """What nvidia-smi says: GPU names, the driver, and the newest CUDA it supports."""
    gpus: tuple[str, ...]
    driver: str
    cuda: str


@dataclass(frozen=True)
class GpuProblem:
    gpu: str
    driver: str
    driver_cuda: str
    torch_version: str
    torch_cuda: str
    fix: str

    def describe(self) -> str:
        """One English sentence for the log and for refusals (the page translates its own)."""
        return (f"GPU {self.gpu} is not used: its driver {self.driver} supports CUDA "
                f"{self.driver_cuda}, but this torch {self.torch_version} is built for "
                f"CUDA {self.torch_cuda}, so the app runs on the CPU. Fix: {self.fix}, then "
                "restart the app.")

    def fields(self) -> dict:
        return asdict(self)


def read_nvidia_smi(timeout: float = 20) -> SmiReport | None:
    """nvidia-smi's GPUs and driver; None without nvidia-smi or when it fails."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        listing = subprocess.run([smi, "--query-gpu=name,driver_version",
                                  "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=timeout, check=True).stdout
        table = subprocess.run([smi], capture_output=True, text=True, timeout=timeout).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [[part.strip() for part in line.split(",")] for line in listing.splitlines()]
    rows = [row for row in rows if len(row) == 2 and row[1]]
    if not rows:
        return None
    driver = rows[0][1]
    shown = re.search(r"CUDA Version:\s*([0-9.]+)", table)
    try:
        cuda = shown.group(1) if shown else (driver_cuda(driver) or "unknown")
    except ValueError:
        cuda = "unknown"
    return SmiReport(tuple(row[0] for row in rows), driver, cuda)


def venv_hint(prefix: str = sys.prefix, base_prefix: str = sys.base_prefix) -> str:
    """This interpreter's environment as install_deps.sh's argument ("-": no virtualenv)."""
    if prefix == base_prefix:
        return "-"
    path = Path(prefix)
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def fix_command(driver: str, venv: str, visible_devices: str | None = None) -> str:
    """The one command that gives this machine a torch that uses its GPU."""
    if visible_devices is not None and visible_devices.strip() in ("", "-1"):
        return "unset CUDA_VISIBLE_DEVICES"  # it hides every GPU from torch
    try:
        choose_build(driver)
    except NoTorchBuild:
        # No torch we install runs on this driver: keep the environment's own torch
        # (InternStudio's), which was installed for this machine.
        fresh = f"rm -rf {venv} && " if venv != "-" else ""
        return f"{fresh}STUDIO_SYSTEM_TORCH=1 scripts/install_deps.sh {venv}"
    except ValueError:
        pass  # a driver version we cannot read: the script reads nvidia-smi itself
    return f"scripts/install_deps.sh {venv}"


def find_gpu_problem(smi: SmiReport | None, torch_version: str, torch_cuda: str | None,
                     cuda_available: bool, venv: str,
                     visible_devices: str | None = None) -> GpuProblem | None:
    """A GPU torch cannot use, or None (no GPU, or torch uses it). Pure."""
    if smi is None or cuda_available:
        return None
    gpu = smi.gpus[0] + (f" (+{len(smi.gpus) - 1} more)" if len(smi.gpus) > 1 else "")
    return GpuProblem(gpu=gpu, driver=smi.driver, driver_cuda=smi.cuda,
                      torch_version=torch_version,
                      torch_cuda=torch_cuda or "none (CPU-only build)",
                      fix=fix_command(smi.driver, venv, visible_devices))


def check_gpu_stack() -> GpuProblem | None:
    """This machine's GPU problem, if any (nvidia-smi and the imported torch)."""
    import torch

    smi = read_nvidia_smi()
    if smi is None:
        return None
    return find_gpu_problem(smi, torch.__version__, torch.version.cuda,
                            torch.cuda.is_available(), venv_hint(),
                            os.environ.get("CUDA_VISIBLE_DEVICES"))


def cpu_training_refusal(profile: str, device: str, problem: GpuProblem | None,
                         allow_cpu: bool) -> str | None:
    """Why training must not start on this CPU, or None when it may."""
    if device != "cpu" or allow_cpu or profile not in REAL_SIZE_PROFILES:
        return None
    why = problem.describe() if problem else "torch sees no CUDA GPU on this machine."
    return (f"{why} Training the {profile} profile's real-size models on the CPU would "
            f"take days, so it is refused; {ALLOW_CPU_HINT} to train on the CPU anyway.")

