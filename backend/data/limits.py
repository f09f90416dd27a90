"""A dataset's size limit, and no half-written dataset folder left behind."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from backend.data.dataset import MAX_DATASET_BYTES, LimitError
from backend.training.disk_budget import DiskFullError, is_disk_full

MB = 1024 * 1024


def check_size(repeated_bytes: int) -> None:
    """The repeated dataset file (rows x repeats) must stay under MAX_DATASET_BYTES."""
    if repeated_bytes > MAX_DATASET_BYTES:
        raise LimitError(
            "err_limit_bytes", f"The dataset would take {repeated_bytes / MB:.0f} MB; at most "
            f"{MAX_DATASET_BYTES // MB} MB are allowed. Use fewer repeats, fewer rows or "
            "shorter answers.", size_mb=round(repeated_bytes / MB), limit_mb=MAX_DATASET_BYTES // MB)


@contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """A dataset folder that is removed again if writing it fails (full disk)."""
    try:
        yield
    except BaseException as error:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, Exception) and is_disk_full(error):
            raise DiskFullError(shutil.disk_usage(folder.parent).free) from error
        raise
