"""Start-up warnings a person must not miss."""
from __future__ import annotations

from .settings import Settings

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
    bar = "!" * 72
    return (f"\n{bar}\n  WARNING: XTuner LLaVA Studio is reachable {where} WITHOUT LOGIN.\n"
            "  Anyone with the address can train, stop and delete runs.\n"
            "  Add --auth user:password (or --auth-file class.csv).\n"
            f"{bar}\n")
