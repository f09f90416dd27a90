"""The page's disk lines: the low-disk warning before the disk is full, and a
user's use against their quota, in both languages."""
from types import SimpleNamespace

from PIL import Image

from backend.data import dataset
from backend.data.store import DatasetStore
from backend.training.disk_budget import DiskBudget
from backend.training.user_quota import UserQuota
from ui.disk_view import disk_notice, usage_markdown


def services_with(budget, quota=None):
    return SimpleNamespace(budget=budget, quota=quota)


def test_the_header_warns_before_the_disk_is_full_and_when_it_is(tmp_path):
    budget = DiskBudget(tmp_path, full_below=0, low_below=0)
    assert disk_notice(services_with(budget)) == ""
    budget.low_below = budget.free() + 1  # "low" from here on, not yet full
    assert "getting full" in disk_notice(services_with(budget), "en")
    assert "磁盘快满了" in disk_notice(services_with(budget), "zh")
    budget.full_below = budget.free() + 1
    assert "is full" in disk_notice(services_with(budget), "en")
    assert "磁盘已满" in disk_notice(services_with(budget), "zh")


def test_a_users_disk_use_against_the_quota(tmp_path):
    store = DatasetStore(tmp_path)
    image = tmp_path / "cat.png"
    Image.new("RGB", (32, 32)).save(image)
    store.create(image, dataset.conversations_from_rows([("Q?", "A" * 1000)]), 500, owner="amy")
    jobs = SimpleNamespace(list_runs=lambda: [])
    budget = DiskBudget(tmp_path)
    quota = UserQuota(1.0, store, jobs, budget)
    line = usage_markdown(services_with(budget, quota), "amy", "en")
    assert line.startswith("Your disk use: **0.5 MB** of 1 GB (datasets 0.5 MB, runs 0.0 MB")
    assert usage_markdown(services_with(budget, quota), "amy", "zh").startswith(
        "你的磁盘用量：**0.5 MB** / 1 GB")
    # No quota for this user (login off): the line says the disk's free space instead.
    quota.applies = lambda owner: False
    assert "free on the disk" in usage_markdown(services_with(budget, quota), "amy", "en")


def test_the_data_tabs_delete_button_deletes_the_owners_dataset_only(tmp_path):
    import gradio as gr
    import pytest

    from backend.access.accounts import Accounts, parse_pair
    from backend.access.rules import RunAccess
    from tests.support.requests import request_in
    from ui.disk_view import delete_dataset_ui
    from ui.guard import guarded, worded

    store = DatasetStore(tmp_path)
    image = tmp_path / "cat.png"
    Image.new("RGB", (32, 32)).save(image)
    stored = store.create(image, dataset.conversations_from_rows([("Q?", "A.")]), 2,
                          owner="amy")
    accounts = Accounts([parse_pair("amy:a"), parse_pair("ben:b")])
    services = SimpleNamespace(access=RunAccess(accounts, None, store), datasets=store)
    # As the Data tab wires it: through the one guard, worded in the page's language.
    delete = guarded(lambda dataset_id, request: delete_dataset_ui(
        services, dataset_id, "zh", request.username), message=worded("err_delete_dataset"))
    with pytest.raises(gr.Error, match="数据集没有删除"):
        delete(stored.dataset_id, request_in("zh-CN", "ben"))
    assert stored.folder.exists()
    summary, preview, dataset_id, _usage = delete_dataset_ui(services, stored.dataset_id,
                                                             "en", "amy")
    assert summary.startswith(f"Dataset `{stored.dataset_id}` deleted") and dataset_id == ""
    assert not stored.folder.exists()
