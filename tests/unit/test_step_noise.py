"""bench/report/step_noise.py: what moves the step time, read from mmengine's step lines."""
from pathlib import Path

from bench.report.step_noise import issue18_logs, log_row, step_noise_table, two_groups

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def _line(i: int, time_s: float, data_s: float) -> str:
    return (f"12/03 23:59:21 - mmengine - INFO - Iter(train) [{i:>3}/150]  lr: 1.0e-04  "
            f"eta: 0:00:10  time: {time_s:.4f}  data_time: {data_s:.4f}  memory: 15310  loss: 1.0")


def _log(pairs) -> str:
    return "\n".join(_line(i, t, d) for i, (t, d) in enumerate(pairs, start=1))


def test_two_groups_of_data_time_and_the_step_in_each():
    # step 1 carries start-up; then 30 fast steps, 10 slow ones and a checkpoint's pause
    pairs = [(3.0, 0.01)] + [(0.14, 0.008)] * 30 + [(0.20, 0.014)] * 10 + [(4.6, 4.4)]
    row = log_row(_log(pairs))
    assert row["steps"] == 40 and row["pauses"] == 1
    assert (row["fast_data"], row["slow_data"]) == (0.008, 0.014)
    assert (row["fast_step"], row["slow_step"]) == (0.14, 0.20)
    assert row["slow_share"] == 0.25 and row["r"] > 0.99


def test_a_step_that_does_not_follow_data_time_shows_no_correlation():
    pairs = [(3.0, 0.01)] + [(0.14, 0.008), (0.20, 0.014), (0.20, 0.008), (0.14, 0.014)] * 10
    assert abs(log_row(_log(pairs))["r"]) < 0.01


def test_too_few_steps_give_no_row():
    assert log_row(_log([(0.14, 0.008)] * 15)) is None


def test_two_groups_splits_between_the_modes():
    assert 0.008 < two_groups([0.008] * 5 + [0.014] * 5) < 0.014


def test_the_report_covers_every_issue18_training_log():
    logs = issue18_logs(RESULTS)
    table = step_noise_table(logs, RESULTS)
    assert len(logs) >= 18
    assert sum(line.startswith("| issue18") for line in table.splitlines()) == len(logs)
    assert f"Across these {len(logs)} runs" in table
