"""The start-up check: a GPU that nvidia-smi shows but torch cannot use."""
import os

import pytest
import torch

from backend.gpu_check import (CpuTrainingRefused, SmiReport, check_gpu_stack,
                               cpu_training_refusal, find_gpu_problem, read_nvidia_smi,
                               venv_hint)
from backend.launch_checks import gpu_stack_warning
from backend.services import build_services
from backend.settings import Settings, parse_settings
from tests.fakes.nvidia_smi import A100, write_fake_nvidia_smi

A100_SMI = SmiReport(("NVIDIA A100-SXM4-80GB",), "535.104.05", "12.2")


@pytest.fixture
def fake_gpu(tmp_path, monkeypatch):
    """nvidia-smi shows an A100 on driver 535 (CUDA 12.2); torch is this machine's."""
    if torch.cuda.is_available():
        pytest.skip("torch uses a real GPU here")
    folder = write_fake_nvidia_smi(tmp_path / "gpu")
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return A100


def test_a_cuda13_torch_on_a_cuda12_driver_is_named_with_its_fix():
    problem = find_gpu_problem(A100_SMI, "2.14.1+cu130", "13.0", False, ".venv")
    text = problem.describe()
    for fact in ("NVIDIA A100-SXM4-80GB", "535.104.05", "CUDA 12.2", "2.14.1+cu130",
                 "CUDA 13.0", "runs on the CPU", "Fix: scripts/install_deps.sh .venv,"):
        assert fact in text, fact


def test_a_cpu_only_torch_is_named_as_such():
    problem = find_gpu_problem(A100_SMI, "2.14.1+cpu", None, False, ".venv")
    assert "built for CUDA none (CPU-only build)" in problem.describe()


def test_no_gpu_or_a_working_one_is_no_problem():
    assert find_gpu_problem(None, "2.14.1", None, False, ".venv") is None
    assert find_gpu_problem(A100_SMI, "2.14.1+cu126", "12.6", True, ".venv") is None


def test_a_driver_too_old_for_any_build_keeps_the_environments_torch():
    old = SmiReport(("Tesla V100", "Tesla V100"), "515.43.04", "11.7")
    problem = find_gpu_problem(old, "2.14.1+cu130", "13.0", False, ".venv")
    assert problem.gpu == "Tesla V100 (+1 more)"
    assert problem.fix == "rm -rf .venv && STUDIO_SYSTEM_TORCH=1 scripts/install_deps.sh .venv"


def test_hidden_gpus_are_unhidden_not_reinstalled():
    problem = find_gpu_problem(A100_SMI, "2.14.1+cu126", "12.6", False, ".venv",
                               visible_devices="")
    assert problem.fix == "unset CUDA_VISIBLE_DEVICES"


def test_the_fix_names_this_environment():
    assert venv_hint("/usr", "/usr") == "-"
    assert venv_hint("/opt/envs/studio", "/usr") == "/opt/envs/studio"


@pytest.mark.processes
def test_nvidia_smi_is_read_for_gpu_driver_and_cuda(fake_gpu):
    assert read_nvidia_smi() == SmiReport((fake_gpu["name"],), fake_gpu["driver_version"],
                                          fake_gpu["cuda"])


@pytest.mark.processes
def test_this_machines_torch_behind_a_fake_gpu_is_reported(fake_gpu):
    problem = check_gpu_stack()
    assert problem is not None and problem.torch_version == torch.__version__
    assert problem.driver_cuda == "12.2"
    assert problem.describe() in gpu_stack_warning(problem)


@pytest.mark.parametrize("profile,device,allow,refused", [
    ("demo", "cpu", False, False), ("internstudio", "cpu", False, True),
    ("custom", "cpu", False, True), ("custom", "cpu", True, False),
    ("internstudio", "cuda", False, False)])
def test_real_size_models_do_not_train_on_the_cpu_unless_allowed(profile, device, allow,
                                                                 refused):
    reason = cpu_training_refusal(profile, device, None, allow)
    assert (reason is not None) == refused
    if refused:
        assert "--allow-cpu" in reason and profile in reason


def test_the_refusal_says_why_the_gpu_is_not_used():
    problem = find_gpu_problem(A100_SMI, "2.14.1+cu130", "13.0", False, ".venv")
    reason = cpu_training_refusal("internstudio", "cpu", problem, False)
    assert reason.startswith(problem.describe())


def test_allow_cpu_is_a_flag_and_a_variable(monkeypatch):
    assert parse_settings(["--allow-cpu"]).allow_cpu
    monkeypatch.setenv("STUDIO_ALLOW_CPU", "1")
    assert parse_settings([]).allow_cpu


def custom_settings(tmp_path, allow_cpu=False) -> Settings:
    """The custom profile on paths that hold no weights: the refusal needs none."""
    return Settings(work_dir=tmp_path / "work", profile="custom", llm_path=tmp_path / "llm",
                    visual_encoder_path=tmp_path / "clip", pretrained_pth=tmp_path / "p.pth",
                    allow_cpu=allow_cpu)


@pytest.mark.processes
def test_a_real_size_profile_refuses_to_train_before_loading_anything(tmp_path, fake_gpu):
    services = build_services(custom_settings(tmp_path))
    try:
        assert services.gpu_problem is not None
        with pytest.raises(CpuTrainingRefused) as refused:
            services.training.start("no-such-dataset")
        assert str(refused.value).startswith(services.gpu_problem.describe())
        assert not (tmp_path / "work" / "runs").exists() or not any(
            (tmp_path / "work" / "runs").iterdir())
    finally:
        services.close()


@pytest.mark.processes
def test_allow_cpu_lets_the_same_start_go_on(tmp_path, fake_gpu):
    services = build_services(custom_settings(tmp_path, allow_cpu=True))
    try:
        with pytest.raises(Exception) as later:  # past the refusal: the dataset is unknown
            services.training.start("no-such-dataset")
        assert not isinstance(later.value, CpuTrainingRefused)
    finally:
        services.close()
