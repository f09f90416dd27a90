"""Which torch build (and bitsandbytes) fits an NVIDIA driver: a pure function.

scripts/install_deps.sh runs this file with the machine's Python before any
package is installed, so it uses the standard library only and runs on the
oldest supported Python (3.10):

    python backend/training/torch_build.py --driver 535.104.05
    -> torch==2.14.1+cu126 torchvision==0.29.1+cu126 https://download.pytorch.org/whl/cu126 0.45.1

The app's start-up check (backend/training/gpu_check.py) uses the same table to name the
command that fixes an unusable GPU.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

TORCH = "2.14.1"
TORCHVISION = "0.29.1"
INDEX = "https://download.pytorch.org/whl/{tag}"

# NVIDIA's CUDA Toolkit release notes, table "CUDA Toolkit and Corresponding Driver
# Versions" (Linux x86_64, each toolkit's GA release): the oldest driver that runs
# everything the toolkit builds. nvidia-smi's "CUDA Version" is the newest row a
# driver reaches.
TOOLKIT_DRIVER = {
    "11.7": "515.43.04", "11.8": "520.61.05",
    "12.0": "525.60.13", "12.1": "530.30.02", "12.2": "535.54.03", "12.3": "545.23.06",
    "12.4": "550.54.14", "12.5": "555.42.02", "12.6": "560.28.03", "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06", "13.1": "590.44.01", "13.2": "595.45.04",
}
# The same notes, "minor version compatibility": a driver of the major's first
# branch runs any toolkit of that major (PyTorch's wheels rely on it; code that
# JIT-compiles new PTX can still need the newer driver above).
MINOR_COMPAT_DRIVER = {"11": "450.80.02", "12": "525.60.13", "13": "580.65.06"}

# The CUDA builds torch 2.14 publishes (PyTorch's release compatibility matrix),
# newest first.
TORCH_CUDA_BUILDS = ("13.2", "13.0", "12.6")

# bitsandbytes releases and the CUDA versions they ship a library for (their
# release workflows), in the order we prefer them: 0.45.1 is the pin measured
# with this stack (requirements-overrides.txt), 0.48.2 ran the lesson's 4-bit
# recipe on a CUDA 13.0 torch (docs/gpu.md), 0.50.1 is the first with CUDA 13.2.
BITSANDBYTES_CUDA = (
    ("0.45.1", ("11.7", "11.8", "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6")),
    ("0.48.2", ("11.8", "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6", "12.8",
                "12.9", "13.0")),
    ("0.50.1", ("11.8", "12.1", "12.4", "12.6", "12.8", "13.0", "13.2")),
)
BITSANDBYTES_DEFAULT = BITSANDBYTES_CUDA[0][0]


def version_key(version: str) -> tuple[int, ...]:
    """'535.104.05' -> (535, 104, 5); raises ValueError on anything else."""
    parts = version.strip().split(".")
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a driver version: {version!r}")
    return tuple(int(p) for p in parts)


def driver_cuda(driver: str) -> str | None:
    """The newest CUDA toolkit this driver fully supports (None: older than 11.7's)."""
    have = version_key(driver)
    fits = [cuda for cuda, needed in TOOLKIT_DRIVER.items() if have >= version_key(needed)]
    return max(fits, key=version_key) if fits else None


def bitsandbytes_for(cuda: str | None) -> str | None:
    """The bitsandbytes release with a library for torch's CUDA (None: none has one).
    A CPU torch (cuda None) keeps the default: it imports, 4-bit needs a GPU anyway."""
    if cuda is None:
        return BITSANDBYTES_DEFAULT
    short = ".".join(cuda.split(".")[:2])
    for release, cudas in BITSANDBYTES_CUDA:
        if short in cudas:
            return release
    return None


def _major_minor(torch_version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in torch_version.split("+")[0].split(".")[:2])


def kept_torch_constraints(torch_version: str) -> list[str]:
    """Pins that keep an environment's own torch (--system-torch) importable: torch
    before 2.4 is compiled against NumPy 1.x and cannot use NumPy 2."""
    return ["numpy<2"] if _major_minor(torch_version) < (2, 4) else []


def kept_torch_bitsandbytes(torch_version: str, cuda: str | None) -> str:
    """bitsandbytes beside an environment's own torch. Before torch 2.1 it is xtuner's
    own pin, 0.45.0 (same CUDA libraries as 0.45.1): 0.45.1's Triton helper imports
    triton.runtime.driver, which torch 2.0's Triton 2.0 lacks (measured on 2.0.1)."""
    if _major_minor(torch_version) < (2, 1):
        return "0.45.0"
    return bitsandbytes_for(cuda) or BITSANDBYTES_DEFAULT


@dataclass(frozen=True)
class TorchBuild:
    cuda: str            # "12.6"
    why: str             # how the driver runs it, for the install log

    @property
    def tag(self) -> str:
        return "cu" + self.cuda.replace(".", "")

    @property
    def torch(self) -> str:
        return f"torch=={TORCH}+{self.tag}"

    @property
    def torchvision(self) -> str:
        return f"torchvision=={TORCHVISION}+{self.tag}"

    @property
    def index(self) -> str:
        return INDEX.format(tag=self.tag)

    @property
    def bitsandbytes(self) -> str:
        return bitsandbytes_for(self.cuda) or BITSANDBYTES_DEFAULT


class NoTorchBuild(ValueError):
    """The driver is older than every torch build we install (message says what to do)."""


def choose_build(driver: str) -> TorchBuild:
    """The torch build for the newest CUDA this driver supports.

    First choice: the newest build whose toolkit's own driver the machine has.
    Failing that, a build the driver runs by minor version compatibility (a 535
    driver, CUDA 12.2, runs the CUDA 12.6 build). Older drivers get NoTorchBuild.
    """
    have = version_key(driver)
    for cuda in TORCH_CUDA_BUILDS:
        if have >= version_key(TOOLKIT_DRIVER[cuda]):
            return TorchBuild(cuda, f"driver {driver} supports CUDA {driver_cuda(driver)}")
    for cuda in TORCH_CUDA_BUILDS:
        if have >= version_key(MINOR_COMPAT_DRIVER[cuda.split(".")[0]]):
            return TorchBuild(cuda, f"driver {driver} (CUDA {driver_cuda(driver)}) runs CUDA "
                                    f"{cuda} by minor version compatibility")
    oldest = TORCH_CUDA_BUILDS[-1]
    floor = MINOR_COMPAT_DRIVER[oldest.split(".")[0]]
    raise NoTorchBuild(
        f"NVIDIA driver {driver} (CUDA {driver_cuda(driver) or 'older than 11.7'}) is older "
        f"than torch {TORCH}'s oldest build (CUDA {oldest}) needs: driver {floor} or newer. "
        "Update the driver, or keep this environment's own torch: "
        "scripts/install_deps.sh VENV --system-torch")


def main(argv: list[str]) -> int:
    """CLI for install_deps.sh: one line 'TORCH TORCHVISION INDEX BITSANDBYTES'."""
    if len(argv) == 2 and argv[0] == "--driver":
        try:
            build = choose_build(argv[1])
        except ValueError as error:  # NoTorchBuild (3), or not a driver version (2)
            print(error, file=sys.stderr)
            return 3 if isinstance(error, NoTorchBuild) else 2
        print(f"torch build {build.tag}: {build.why}", file=sys.stderr)
        print(build.torch, build.torchvision, build.index, build.bitsandbytes)
        return 0
    if len(argv) == 3 and argv[0] == "--kept-torch-bitsandbytes":  # version, cuda or ""
        print(kept_torch_bitsandbytes(argv[1], argv[2] or None))
        return 0
    if len(argv) == 2 and argv[0] == "--kept-torch-constraints":  # torch.__version__
        print("\n".join(kept_torch_constraints(argv[1])))
        return 0
    print("usage: torch_build.py --driver VERSION | --kept-torch-constraints TORCH | "
          "--kept-torch-bitsandbytes TORCH CUDA", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
