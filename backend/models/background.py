"""Resolves the profile's models once, in the background, with progress.

The demo profile builds its models on first start (a minute or two); the
page shows this progress instead of a frozen spinner, and requests that need
the models wait for it.
"""
from __future__ import annotations

import threading

from backend.models.paths import ModelPaths
from backend.models.profiles import Profile
from backend.errors import StudioError


class ModelsNotReady(StudioError, RuntimeError):
    """The models failed to build or resolve; the message says why."""


class BackgroundModels:
    def __init__(self, profile: Profile):
        self.profile = profile
        self._done = threading.Event()
        self._paths: ModelPaths | None = None
        self._error = ""
        self._fraction = 0.0
        self._message = "waiting"
        self._thread = threading.Thread(target=self._resolve, name="models", daemon=True)

    def start(self) -> "BackgroundModels":
        if not self._thread.is_alive() and not self._done.is_set():
            self._thread.start()
        return self

    def _report(self, fraction: float, message: str) -> None:
        self._fraction, self._message = fraction, message

    def _resolve(self) -> None:
        try:
            self._paths = self.profile.paths(self._report)
            self._report(1.0, "ready")
        except Exception as error:  # shown to the user, never a traceback
            self._error = f"{type(error).__name__}: {error}"
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> ModelPaths:
        self.start()
        if not self._done.wait(timeout):
            raise ModelsNotReady(f"The models are still being prepared ({self._message}).")
        if self._paths is None:
            raise ModelsNotReady(f"The {self.profile.name} models are not available: "
                                 f"{self._error}")
        return self._paths

    def status(self) -> dict:
        return {"profile": self.profile.name, "description": self.profile.description,
                "ready": self._paths is not None, "fraction": round(self._fraction, 3),
                "message": self._message, "error": self._error}
