"""Known noise is hidden from the log view, the lines that matter are kept
(samples from a real xtuner run's log)."""
from pathlib import Path

from backend.runs.log_noise import without_noise

REAL_LOG = Path(__file__).resolve().parents[2] / "bench/results/multi_gpu/run.log"

SAMPLE = """\
/venv/lib/python3.12/site-packages/torch/_dynamo/eval_frame.py:1263: UserWarning: torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly.
  return fn(*args, **kwargs)
11/30 16:41:06 - mmengine - WARNING - "FileClient" will be deprecated in future. Please use io functions
You are using an old version of the checkpointing format that is deprecated (We will also silently ignore it).
[2026-11-30 16:40:39,305] [INFO] [config.py:1007:print]   bfloat16_enabled ............. True
11/30 16:41:08 - mmengine - INFO - Iter(train) [1/6]  lr: 2.0000e-09  loss: 11.5591
11/30 16:41:38 - mmengine - INFO - Saving checkpoint at 6 iterations
RuntimeError: CUDA out of memory
"""


def test_noise_hidden_the_lines_that_matter_kept():
    shown, hidden = without_noise(SAMPLE)
    assert hidden == 5
    assert shown.splitlines() == [
        "11/30 16:41:08 - mmengine - INFO - Iter(train) [1/6]  lr: 2.0000e-09  loss: 11.5591",
        "11/30 16:41:38 - mmengine - INFO - Saving checkpoint at 6 iterations",
        "RuntimeError: CUDA out of memory"]


def test_the_last_lines_are_the_newest_kept():
    shown, _ = without_noise(SAMPLE, keep_last=1)
    assert shown == "RuntimeError: CUDA out of memory\n"


def test_a_real_log_keeps_every_iteration_and_loses_every_deprecation():
    text = REAL_LOG.read_text(encoding="utf-8")
    shown, hidden = without_noise(text, keep_last=10_000)
    assert hidden > 50
    assert shown.count("Iter(train)") == text.count("Iter(train)") == 6
    assert "deprecated" not in shown and "Warning: " not in shown
    assert shown.count("Sample output:") == text.count("Sample output:")
