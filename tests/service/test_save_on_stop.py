"""SaveOnStopHook with several training processes: rank 0 decides, every rank
saves at the same step (a DeepSpeed save is collective, so a rank that missed
the stop request would hang the others). Two real processes over gloo; the
runner around the hook is a stand-in (the single-process path runs for real in
tests/app/test_runs_service.py)."""
import os
import socket
import types
from pathlib import Path

import pytest
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.hooks import CheckpointHook

from backend.xtuner.trainer_side.hooks import LeanFinalCheckpointHook, SaveOnStopHook


class RecordingCheckpointHook(CheckpointHook):
    def __init__(self):
        super().__init__(interval=1000, by_epoch=False)
        self.saved_at = []

    def _save_checkpoint(self, runner):
        self.saved_at.append(runner.iter + 1)


def _rank(rank: int, world: int, port: int, root: str, results: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch_dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        # Each rank its own work dir: only rank 0's holds the request, as on
        # another node's disk.
        work = Path(root) / f"rank{rank}"
        work.mkdir(parents=True, exist_ok=True)
        if rank == 0:
            (work / "stop_requested").write_text("stop\n")
        checkpoint = RecordingCheckpointHook()
        runner = types.SimpleNamespace(
            work_dir=str(work), world_size=world, rank=rank, iter=41, hooks=[checkpoint],
            train_loop=types.SimpleNamespace(stop_training=False),
            logger=types.SimpleNamespace(info=lambda message: None))
        SaveOnStopHook().after_train_iter(runner, batch_idx=41)
        results[rank] = (checkpoint.saved_at, runner.train_loop.stop_training)
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.processes
def test_every_rank_saves_and_stops_when_rank_0_is_asked(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_rank, args=(2, port, str(tmp_path), results), nprocs=2, join=True)
        assert dict(results) == {0: ([42], True), 1: ([42], True)}


def test_no_request_no_save(tmp_path):
    checkpoint = RecordingCheckpointHook()
    runner = types.SimpleNamespace(
        work_dir=str(tmp_path), world_size=1, rank=0, iter=9, hooks=[checkpoint],
        train_loop=types.SimpleNamespace(stop_training=False),
        logger=types.SimpleNamespace(info=lambda message: None))
    SaveOnStopHook().after_train_iter(runner, batch_idx=9)
    assert checkpoint.saved_at == [] and runner.train_loop.stop_training is False
    (tmp_path / "stop_requested").write_text("stop\n")
    SaveOnStopHook().after_train_iter(runner, batch_idx=9)
    assert checkpoint.saved_at == [10] and runner.train_loop.stop_training is True


def test_only_the_last_iterations_checkpoint_drops_the_optimizer(tmp_path):
    checkpoint = RecordingCheckpointHook()
    runner = types.SimpleNamespace(work_dir=str(tmp_path), iter=8, max_iters=10,
                                   hooks=[checkpoint])
    LeanFinalCheckpointHook().before_train_iter(runner, batch_idx=8)
    assert checkpoint.save_optimizer is True   # a save here may be resumed from
    runner.iter = 9
    LeanFinalCheckpointHook().before_train_iter(runner, batch_idx=9)
    assert checkpoint.save_optimizer is False
