"""The page's view of the disk: a user's quota line, the low-disk warning,
and deleting a dataset from the Data tab."""
from __future__ import annotations

import gradio as gr

from backend.training.disk_budget import MB
from backend.services import Services

from .messages import tr

GB = 1e9


def size_text(value: int) -> str:
    """Bytes as a person reads them: MB below a GB (the demo's runs), else GB."""
    return f"{value / GB:.2f} GB" if value >= GB else f"{value / MB:.1f} MB"


def usage_markdown(services: Services, owner: str, lang: str = "en") -> str:
    """What this user's datasets and runs hold, against their quota (if any)."""
    if getattr(services, "quota", None) is None or getattr(services, "budget", None) is None:
        return ""
    usage = services.quota.usage(owner)
    sizes = {"datasets": size_text(usage.datasets), "runs": size_text(usage.runs)}
    if usage.quota:
        return tr("usage_line", lang, used=size_text(usage.total),
                  quota=f"{usage.quota / GB:g} GB", reserved=size_text(usage.reserved), **sizes)
    return tr("usage_line_no_quota", lang, free=size_text(services.budget.free()), **sizes)


def disk_notice(services: Services, lang: str = "en") -> str:
    """The header's warning before (and while) the work dir's disk is full."""
    budget = getattr(services, "budget", None)  # None: a test's stand-in services
    if budget is None:
        return ""
    free = budget.is_low()
    if free is None:
        return ""
    key = "disk_full" if free < budget.full_below else "disk_low"
    return "\n\n" + tr(key, lang, mb=free // MB, full_mb=budget.full_below // MB)


def delete_dataset_ui(services: Services, dataset_id: str, lang: str, username: str | None):
    """Data tab's Delete: (summary, preview, dataset id, usage line)."""
    if not dataset_id:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    # A refusal (not the owner, unknown id) is worded by the guard (ui/guard.py).
    services.access.check_dataset(username, dataset_id)  # owner only
    services.datasets.delete(dataset_id)
    owner = services.access.owner(username)
    return (tr("dataset_deleted", lang, dataset_id=dataset_id), "", "",
            usage_markdown(services, owner, lang))
