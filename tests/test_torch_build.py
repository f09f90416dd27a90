"""The install script's choice of torch build: a pure function of the NVIDIA driver."""
import subprocess
import sys
from pathlib import Path

import pytest

from backend.torch_build import (NoTorchBuild, bitsandbytes_for, choose_build, driver_cuda,
                                 kept_torch_bitsandbytes, kept_torch_constraints,
                                 version_key)

ROOT = Path(__file__).resolve().parent.parent

# Drivers machines ran from 2021 on (R470 ... R610), with the CUDA nvidia-smi shows
# for each and the build the install script must pick.
DRIVERS = [
    ("470.82.01", "11.4", None),   # CUDA 11.4: older than the 11.7 row, no build
    ("515.43.04", "11.7", None),   # InternStudio's CUDA 11.7 era: --system-torch
    ("520.61.05", "11.8", None),
    ("525.60.13", "12.0", "12.6"),  # minor version compatibility from here on
    ("535.104.05", "12.2", "12.6"),
    ("545.23.08", "12.3", "12.6"),
    ("550.54.15", "12.4", "12.6"),
    ("555.42.06", "12.5", "12.6"),
    ("560.28.03", "12.6", "12.6"),  # CUDA 12.6's own driver
    ("565.57.01", "12.6", "12.6"),
    ("570.86.15", "12.8", "12.6"),  # torch 2.14 has no 12.8 build
    ("575.57.08", "12.9", "12.6"),
    ("580.65.06", "13.0", "13.0"),
    ("580.95.05", "13.0", "13.0"),
    ("590.48.01", "13.1", "13.0"),
    ("595.45.04", "13.2", "13.2"),
    ("610.43.02", "13.2", "13.2"),  # newer than the table: its newest row
]


@pytest.mark.parametrize("driver,shown,expected", DRIVERS)
def test_each_driver_gets_the_newest_build_it_runs(driver, shown, expected):
    assert (driver_cuda(driver) or "11.4") == shown
    if expected is None:
        with pytest.raises(NoTorchBuild) as refused:
            choose_build(driver)
        assert driver in str(refused.value) and "--system-torch" in str(refused.value)
        return
    build = choose_build(driver)
    assert build.cuda == expected
    tag = "cu" + expected.replace(".", "")
    assert build.torch.endswith("+" + tag) and build.torchvision.endswith("+" + tag)
    assert build.index == f"https://download.pytorch.org/whl/{tag}"
    # Full support where the driver reaches the build's CUDA, else said to be the
    # minor-version-compatibility fallback.
    if version_key(expected) <= version_key(shown):
        assert "minor version" not in build.why
    else:
        assert "minor version compatibility" in build.why


def test_a_newer_driver_never_gets_an_older_build():
    chosen = [version_key(expected) for _, _, expected in DRIVERS if expected]
    assert chosen == sorted(chosen)


@pytest.mark.parametrize("cuda,release", [
    (None, "0.45.1"), ("11.7", "0.45.1"), ("12.6", "0.45.1"), ("12.8", "0.48.2"),
    ("13.0", "0.48.2"), ("13.2", "0.50.1"), ("13.1", None)])
def test_bitsandbytes_has_a_library_for_the_build(cuda, release):
    assert bitsandbytes_for(cuda) == release


def test_each_build_installs_a_bitsandbytes_with_its_library():
    for driver, _, expected in DRIVERS:
        if expected:
            build = choose_build(driver)
            assert build.bitsandbytes == bitsandbytes_for(build.cuda) is not None


@pytest.mark.processes
def test_the_install_script_reads_one_line_and_a_refusal_as_an_exit_code():
    run = [sys.executable, str(ROOT / "backend" / "torch_build.py"), "--driver"]
    ok = subprocess.run(run + ["535.104.05"], capture_output=True, text=True, check=True)
    assert ok.stdout.split() == ["torch==2.14.1+cu126", "torchvision==0.29.1+cu126",
                                 "https://download.pytorch.org/whl/cu126", "0.45.1"]
    assert "minor version compatibility" in ok.stderr
    old = subprocess.run(run + ["470.82.01"], capture_output=True, text=True)
    assert old.returncode == 3 and old.stdout == "" and "--system-torch" in old.stderr
    bad = subprocess.run(run + ["not-a-driver"], capture_output=True, text=True)
    assert bad.returncode != 0


@pytest.mark.parametrize("version,pins", [
    ("2.0.1+cu117", ["numpy<2"]), ("2.3.1", ["numpy<2"]), ("2.4.0+cu121", []),
    ("2.14.1+cu130", [])])
def test_a_kept_older_torch_keeps_numpy_1(version, pins):
    assert kept_torch_constraints(version) == pins


@pytest.mark.parametrize("version,cuda,release", [
    ("2.0.1", "11.7", "0.45.0"), ("2.1.2", "12.1", "0.45.1"), ("2.14.1", "13.0", "0.48.2"),
    ("2.14.1", None, "0.45.1")])
def test_a_kept_torch_gets_a_bitsandbytes_that_imports_beside_it(version, cuda, release):
    assert kept_torch_bitsandbytes(version, cuda) == release
