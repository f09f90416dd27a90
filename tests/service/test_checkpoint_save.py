"""Checkpoints written as torch serialises them (backend/xtuner/trainer_side/patches.py):
what mmengine's Runner.save_checkpoint calls, the same content as mmengine's own
writer, remote back ends left to mmengine, a full disk an OSError (ENOSPC)."""
import errno

import pytest
import torch

import backend.xtuner.trainer_side.patches  # noqa: F401  (applies the fixes)
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner import runner as mm_runner

from tests.support.tmpfs import small_tmpfs


def state(mib: int = 1) -> dict:
    g = torch.Generator().manual_seed(0)
    return {"meta": {"iter": 3}, "state_dict": {
        "lora_A": torch.randn(mib * 2**18, generator=g), "proj": torch.randn(4, 4, generator=g)}}


def assert_same(a: dict, b: dict) -> None:
    assert a["meta"] == b["meta"] and a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key])


def test_the_runner_writes_local_checkpoints_straight_to_the_file(tmp_path, monkeypatch):
    assert mm_runner.save_checkpoint is mm_checkpoint.save_checkpoint
    assert getattr(mm_runner.save_checkpoint, "_studio_fixed", False)
    puts = []
    monkeypatch.setattr(LocalBackend, "put", lambda self, obj, path: puts.append(path))
    saved = state()
    mm_runner.save_checkpoint(saved, str(tmp_path / "train" / "iter_3.pth"))
    assert puts == []  # not through mmengine's in-memory copy
    assert_same(torch.load(tmp_path / "train" / "iter_3.pth", weights_only=False), saved)


def test_the_content_is_what_mmengine_s_own_writer_saves(tmp_path):
    saved = state()
    mm_checkpoint.save_checkpoint(saved, str(tmp_path / "ours.pth"))
    original = mm_checkpoint.save_checkpoint.__wrapped__
    original(saved, str(tmp_path / "theirs.pth"))
    assert_same(torch.load(tmp_path / "ours.pth", weights_only=False),
                torch.load(tmp_path / "theirs.pth", weights_only=False))


def test_backend_args_keep_mmengine_s_path(tmp_path, monkeypatch):
    puts = []
    monkeypatch.setattr(LocalBackend, "put", lambda self, obj, path: puts.append(path))
    mm_checkpoint.save_checkpoint(state(), str(tmp_path / "x.pth"),
                                  backend_args={"backend": "local"})
    assert puts == [str(tmp_path / "x.pth")]


@pytest.mark.processes  # mount(8)
def test_a_full_disk_is_an_enospc_oserror(tmp_path):
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        with pytest.raises(OSError) as raised:
            mm_checkpoint.save_checkpoint(state(mib=4), str(disk / "iter_9.pth"))
        assert raised.value.errno == errno.ENOSPC
