"""Cleans gradio's upload cache (GRADIO_TEMP_DIR) of old files no request holds.

gradio keeps every upload (and every file it served) forever; a class fills
the disk with them. Every ``interval_s`` a sweep removes the files not touched
for ``max_age_s``, except a file a request holds (``holding``) or that this
process has open, then the folders that sweep left empty.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

log = logging.getLogger(__name__)

MAX_AGE_S = 3 * 3600   # a class's lesson: an upload older than this is not coming back
INTERVAL_S = 600


def gradio_upload_dir() -> Path:
    """Where gradio puts uploads, as gradio itself decides it."""
    return Path(os.environ.get("GRADIO_TEMP_DIR")
                or Path(tempfile.gettempdir()) / "gradio").resolve()


def open_files() -> set[Path]:
    """Files this process has open now."""
    found = set()
    fd_dir = Path("/proc/self/fd")
    try:
        entries = list(fd_dir.iterdir())
    except OSError:
        return found
    for entry in entries:
        try:
            found.add(Path(os.readlink(entry)))
        except OSError:
            continue
    return found


class UploadCleaner:
    def __init__(self, root: Path | None = None, max_age_s: float = MAX_AGE_S,
                 interval_s: float = INTERVAL_S):
        self.root = (root or gradio_upload_dir()).resolve()
        self.max_age_s = max_age_s
        self.interval_s = interval_s
        self._held: Counter[Path] = Counter()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, values: Iterable) -> Iterator[None]:
        """While a request runs, the upload files among its arguments are kept."""
        paths = [p for p in (self._cached(v) for v in values) if p is not None]
        with self._lock:
            self._held.update(paths)
        try:
            yield
        finally:
            with self._lock:
                self._held.subtract(paths)
                self._held += Counter()  # drop the zeros

    def _cached(self, value) -> Path | None:
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            return None
        try:
            path = Path(value).resolve()
        except (OSError, ValueError):
            return None
        return path if path.is_relative_to(self.root) else None

    def sweep(self, now: float | None = None) -> list[Path]:
        """Remove what is old and not in use; the files removed."""
        now = time.time() if now is None else now
        if not self.root.is_dir():
            return []
        with self._lock:
            held = set(self._held)
        in_use = held | open_files()
        removed = []
        for path in sorted(self.root.rglob("*"), reverse=True):  # files before their folders
            try:
                if path.is_symlink() or path.is_file():
                    stat = path.lstat()
                    if now - max(stat.st_mtime, stat.st_atime) < self.max_age_s:
                        continue
                    if path.resolve() in in_use:
                        continue
                    path.unlink()
                    removed.append(path)
                elif path.is_dir() and not any(path.iterdir()) \
                        and now - path.stat().st_mtime >= self.max_age_s:
                    path.rmdir()  # old and empty: gradio is not writing into it
            except OSError:
                continue  # removed meanwhile, or not ours to remove
        if removed:
            log.info("upload cache: removed %d old files from %s", len(removed), self.root)
        return removed

    def start(self) -> "UploadCleaner":
        self._thread = threading.Thread(target=self._loop, name="upload-cleaner", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self.sweep()
            except Exception:  # never let the cleaner die
                log.exception("upload cache sweep failed")
