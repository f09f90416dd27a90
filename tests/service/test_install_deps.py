"""scripts/install_deps.sh's three ways to get torch (and a Slurm that cannot be
installed), with pip recorded instead of run.

The package indexes are out of reach here, so the interpreter the script is given
(PYTHON) is this test's Python behind a wrapper that writes down each `-m pip` call
(and the files it names) and runs everything else for real: the script's own
decisions, backend/training/torch_build.py and the final import check all run.
"""
import os
import shutil
import stat
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

from backend.training.torch_build import (BITSANDBYTES_DEFAULT, TORCH, TORCHVISION, bitsandbytes_for,
                                 kept_torch_bitsandbytes)
from tests.support.fakes.nvidia_smi import write_fake_nvidia_smi

ROOT = Path(__file__).resolve().parents[2]
# Every test runs scripts/install_deps.sh (with fake pip and nvidia-smi).
pytestmark = pytest.mark.processes

RECORDING_PYTHON = '''#!{python}
import os, sys
args = sys.argv[1:]
if args[:2] == ["-m", "pip"]:
    pip_args = [a for a in args[2:] if a not in ("--disable-pip-version-check", "-q")]
    with open({log!r}, "a", encoding="utf-8") as log:
        log.write(" ".join(pip_args) + "\\n")
        for flag, name in zip(args, args[1:]):
            if flag in ("-r", "-c") and os.path.exists(name):
                log.write("  " + flag + ": " + open(name).read().replace("\\n", " ") + "\\n")
    sys.exit(0)
os.execv({python!r}, [{python!r}, *args])
'''


def run_install(tmp_path: Path, *options: str, env: dict | None = None) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "pip.log"
    python = bin_dir / "python"
    python.write_text(RECORDING_PYTHON.format(python=sys.executable, log=str(log)))
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    full_env = {**os.environ, "PYTHON": str(python), **(env or {})}
    full_env.pop("STUDIO_SYSTEM_TORCH", None)
    full_env.pop("STUDIO_NVIDIA_DRIVER", None)
    full_env.update(env or {})
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install_deps.sh"), "-", *options],
                          cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return log.read_text(encoding="utf-8").splitlines()


@pytest.mark.processes
def test_a_driver_gets_its_torch_build_from_that_builds_index(tmp_path):
    fake = write_fake_nvidia_smi(tmp_path / "gpu", driver_version="535.104.05")
    calls = run_install(tmp_path, env={"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"})
    assert (f"install torch=={TORCH}+cu126 torchvision=={TORCHVISION}+cu126 --index-url "
            "https://download.pytorch.org/whl/cu126") in calls
    constraints = next(c for c in calls if c.startswith("  -c:"))
    assert f"torch=={TORCH}+cu126" in constraints and "nvidia-cublas==" not in constraints
    assert "numpy==" in constraints, "the rest of the lock still applies"
    assert f"install --no-deps bitsandbytes=={bitsandbytes_for('12.6')}" in calls


@pytest.mark.processes
def test_a_newer_driver_given_by_variable_gets_cuda_13(tmp_path):
    calls = run_install(tmp_path, env={"STUDIO_NVIDIA_DRIVER": "580.95.05"})
    assert any("torch==2.14.1+cu130" in c and "whl/cu130" in c for c in calls)
    assert "install --no-deps bitsandbytes==0.48.2" in calls


@pytest.mark.processes
def test_system_torch_keeps_the_environments_torch(tmp_path):
    calls = run_install(tmp_path, "--system-torch")
    assert not any(c.startswith("install torch") for c in calls)
    requirements = next(c for c in calls if c.startswith("  -r:"))
    assert "gradio==" in requirements and "torch==" not in requirements
    constraints = next(c for c in calls if c.startswith("  -c:"))
    assert f"torch=={version('torch')} " in constraints
    assert "requirements.lock" not in " ".join(calls)
    bnb = kept_torch_bitsandbytes(version("torch"), torch.version.cuda)
    assert f"install --no-deps bitsandbytes=={bnb}" in calls


@pytest.mark.processes
@pytest.mark.skipif(shutil.which("nvidia-smi", path="/usr/bin:/bin") is not None,
                    reason="this machine has a real nvidia-smi")
def test_no_driver_installs_as_pinned_for_ci(tmp_path):
    calls = run_install(tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert "install -r requirements.txt -c requirements.lock" in calls
    assert "install --no-deps -r requirements-overrides.txt" in calls
    assert not any("--index-url" in c for c in calls)


def test_the_tables_pins_are_the_requirements_pins():
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert f"torch=={TORCH}\n" in requirements and f"torchvision=={TORCHVISION}\n" in requirements
    overrides = (ROOT / "requirements-overrides.txt").read_text(encoding="utf-8")
    assert f"bitsandbytes=={BITSANDBYTES_DEFAULT}\n" in overrides


@pytest.mark.processes
def test_slurm_that_cannot_be_installed_still_leaves_a_working_install(tmp_path):
    # No sbin on PATH: slurmctld, slurmd and munged read as missing; apt-get fails.
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    apt_get = fake_bin / "apt-get"
    apt_log = tmp_path / "apt.log"
    apt_get.write_text(f"#!/bin/sh\necho \"$*\" >> {apt_log}\necho 'E: out of reach' >&2\nexit 100\n")
    apt_get.chmod(0o755)
    calls = run_install(tmp_path, "--system-slurm", env={"PATH": f"{fake_bin}:/usr/bin:/bin"})
    assert apt_log.read_text().startswith("update"), "the slurm branch tried apt-get"
    assert any(c.startswith("install -r requirements.txt") for c in calls)
