"""Who is logged in, with a way out: on a shared classroom machine (or a
projector) the page says whose it is."""
from __future__ import annotations

import re

from backend.services import Services

from .messages import tr

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def who_markdown(services: Services, user: str | None, lang: str = "en") -> str:
    """"Logged in as … · Log out", or nothing when the app runs without logins."""
    accounts = services.access.accounts
    if not accounts.enabled or not user:
        return ""
    name = _MARKDOWN_SPECIAL.sub(r"\\\1", user)  # a name from the class list, shown as text
    role = tr(f"role_{accounts.role(user)}", lang)
    # This browser only: the teacher's laptop and the projector log out separately.
    return tr("who", lang, user=name, role=role, logout="logout?all_session=false")
