"""Issue 16 through the real app: a work dir on a small tmpfs that fills,
quotas, limits named in the page's language, deleting a dataset."""
import json
import shutil

import pytest
from gradio_client import Client, handle_file

from tests.support.app_server import running_app
from tests.support.tmpfs import small_tmpfs
from tests.support.images import make_star_image

pytestmark = [pytest.mark.processes, pytest.mark.slow]  # slow: an app start per test

MB = 1024 * 1024
QA = json.dumps([{"question": "What is drawn?", "answer": "A yellow star."}])


@pytest.fixture
def tmpfs_work(tmp_path):
    with small_tmpfs(tmp_path / "disk", "160m") as mount:
        yield mount / "work"


def refused(call, *fragments):
    with pytest.raises(Exception) as caught:
        call()
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)
    return str(caught.value)


def test_full_disk_quota_limits_and_delete_through_the_api(tmp_path, tmpfs_work):
    missing = tmp_path / "no-models"  # custom profile: nothing is built or loaded
    args = ("--profile", "custom", "--llm", str(missing), "--visual-encoder", str(missing),
            "--pretrained-pth", str(missing), "--auth", "alice:pw-a", "--auth", "bob:pw-b",
            "--user-quota-gb", "0.004")
    star = handle_file(str(make_star_image(tmp_path / "star.png")))
    with running_app(tmpfs_work, *args) as (url, _):
        alice = Client(url, auth=("alice", "pw-a"), verbose=False)
        alice_zh = Client(url, auth=("alice", "pw-a"), verbose=False,
                          headers={"Accept-Language": "zh-CN"})
        bob = Client(url, auth=("bob", "pw-b"), verbose=False)
        datasets = tmpfs_work / "datasets"

        built = alice.predict(star, QA, 2, api_name="/build_dataset")
        ds = built["dataset_id"]
        # Limits, named, in the page's language; deep nesting explained.
        turns = json.dumps([{"conversations": [
            {"from": "human" if i % 2 == 0 else "gpt", "value": f"m{i}"} for i in range(60)]}])
        refused(lambda: alice.predict(star, turns, 2, api_name="/build_dataset"),
                "at most 20 turns")
        refused(lambda: alice_zh.predict(star, turns, 2, api_name="/build_dataset"),
                "最多允许 20 轮")
        refused(lambda: alice.predict(star, "[" * 50_000, 2, api_name="/build_dataset"),
                "nested too deeply")
        # 4 MB quota: 200 rows x 1,000 characters x 20 repeats is about 4.5 MB.
        big = json.dumps([{"question": f"Q{i}?", "answer": "A" * 1000} for i in range(200)])
        refused(lambda: alice.predict(star, big, 20, api_name="/build_dataset"),
                "Your disk quota is 0.004 GB")
        refused(lambda: alice_zh.predict(star, big, 20, api_name="/build_dataset"),
                "你的磁盘配额是 0.004 GB")
        assert [p.name for p in datasets.iterdir()] == [ds]

        # Deleting: the owner only.
        refused(lambda: bob.predict(ds, api_name="/delete_dataset"), "Unknown dataset id")
        assert alice.predict(ds, api_name="/delete_dataset") == {"dataset_id": ds,
                                                                 "deleted": True}
        assert list(datasets.iterdir()) == []
        refused(lambda: alice.predict(ds, "{}", api_name="/start_training"),
                "Unknown dataset id")

        # The disk fills: new datasets are refused with the sentence, lists answer,
        # no empty folder is left; once space is back, it works again.
        ballast = tmpfs_work / "ballast"
        with open(ballast, "wb") as f:
            while shutil.disk_usage(tmpfs_work).free > 8 * MB:
                f.write(b"x" * MB)
        refused(lambda: alice.predict(star, QA, 2, api_name="/build_dataset"),
                "The disk holding WORK_DIR is full: ")
        refused(lambda: alice_zh.predict(star, QA, 2, api_name="/build_dataset"),
                "存放工作目录（WORK_DIR）的磁盘已满")
        assert alice.predict(api_name="/list_runs") == []
        assert list(datasets.iterdir()) == []
        ballast.unlink()
        assert alice.predict(star, QA, 2, api_name="/build_dataset")["samples"] == 2
