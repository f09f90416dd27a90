"""Each GPU run's CPU threads (backend/runs/thread_share.py) and who gets a share."""
import pytest

from backend.runs.thread_share import CAP, ThreadShare
from backend.services import thread_share
from backend.settings import parse_settings


def test_a_run_takes_the_cores_that_running_runs_do_not_hold_within_the_cap():
    share = ThreadShare(cores=16)
    assert share.for_next_run(()) == CAP == 8  # alone on 16 cores: the cap
    assert share.for_next_run([8]) == 8
    assert share.for_next_run([8, 5]) == 3
    assert share.for_next_run([8, 8]) == 1  # never none: it must run
    assert ThreadShare(cores=2).for_next_run(()) == 2
    assert ThreadShare(cores=12, cap=4).for_next_run([4]) == 4
    # A run over two GPUs: two processes share what is left.
    assert share.for_next_run([8], processes=2) == 4
    assert share.for_next_run([], processes=4) == 4
    assert share.for_next_run([15], processes=2) == 1


def test_only_runs_on_this_machine_s_gpus_share_its_cores():
    gpu = object()  # a GpuSetup: only whether there is one matters
    assert thread_share(parse_settings([]), gpu) is not None
    assert thread_share(parse_settings([]), None) is None  # the CPU: one thread a run
    assert thread_share(parse_settings(["--train-threads", "4"]), gpu) is None  # fixed by hand
    assert thread_share(parse_settings(["--executor", "slurm"]), gpu) is None  # the nodes' cores


def test_train_threads_below_one_is_refused_with_the_reason(capsys):
    with pytest.raises(SystemExit):
        parse_settings(["--train-threads", "0"])
    assert "--train-threads must be 1 or more" in capsys.readouterr().err
