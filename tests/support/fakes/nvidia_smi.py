"""A fake nvidia-smi for a machine without a GPU: tests write it onto PATH.

Answers the two ways the app and the install script ask (``--query-gpu=a,b
--format=csv,...`` and the plain table's header with "CUDA Version") from the
values written into it.
"""
from __future__ import annotations

import stat
import sys
from pathlib import Path

A100 = {"index": "0", "name": "NVIDIA A100-SXM4-80GB", "driver_version": "535.104.05",
        "memory.total": "81920", "memory.free": "81000", "cuda": "12.2"}

SCRIPT = '''#!{python}
import sys
gpu = {gpu!r}
args = sys.argv[1:]
query = [a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")]
if query:
    print(", ".join(gpu[field] for field in query[0].split(",")))
else:
    print("| NVIDIA-SMI {{driver_version}}   Driver Version: {{driver_version}}   "
          "CUDA Version: {{cuda}}     |".format(**gpu))
    print("|   0  {{name}}   On |".format(**gpu))
'''


def write_fake_nvidia_smi(folder: Path, **changes) -> Path:
    """Write nvidia-smi into folder (put folder first on PATH); returns folder."""
    folder.mkdir(parents=True, exist_ok=True)
    smi = folder / "nvidia-smi"
    smi.write_text(SCRIPT.format(python=sys.executable, gpu={**A100, **changes}),
                   encoding="utf-8")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    return folder
