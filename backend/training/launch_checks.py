"""Start-up warnings a person must not miss."""
from __future__ import annotations

from backend.training.gpu_check import GpuProblem
from backend.settings import Settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposure_warning(settings: Settings, auth_enabled: bool) -> str | None:
    """A loud warning when the app is reachable by others without login."""
    if auth_enabled:
        return None
    if settings.share:
        where = "through a public share link"
    elif settings.host not in LOOPBACK:
        where = f"on {settings.host}, beyond this machine"
    else:
        return None
    return _banner(f"WARNING: XTuner LLaVA Studio is reachable {where} WITHOUT LOGIN.",
                   "Anyone with the address can train, stop and delete runs.",
                   "Add --auth user:password (or --auth-file class.csv).")


def gpu_stack_warning(problem: GpuProblem | None) -> str | None:
    """A loud warning when nvidia-smi shows a GPU that torch cannot use."""
    return _banner(f"WARNING: {problem.describe()}") if problem else None


def _banner(*lines: str) -> str:
    bar = "!" * 72
    return f"\n{bar}\n" + "".join(f"  {line}\n" for line in lines) + f"{bar}\n"
