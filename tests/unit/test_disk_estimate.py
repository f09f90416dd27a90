"""A run's disk estimate counts the checkpoints it will really hold at once."""
from backend.training.disk import checkpoints_at_peak, estimate_run_bytes


def test_checkpoints_at_peak_follow_the_saves_and_the_limit():
    # The lesson: 1,200 steps, a save every 500 and at the end, two kept: three
    # exist for a moment (the third written before the first is removed).
    assert checkpoints_at_peak(1200, 500, 2) == 3
    assert checkpoints_at_peak(1000, 500, 2) == 2   # the end save is the 1,000 one
    # A short run saves once, at its end, whatever the limit.
    assert checkpoints_at_peak(60, 10_000, 1) == 1
    assert checkpoints_at_peak(60, 10_000, 5) == 1
    assert checkpoints_at_peak(600, 50, 1) == 2


def test_the_estimate_grows_by_a_checkpoint_each(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x" * 1_000_000)
    one, three = estimate_run_bytes(tmp_path, 1), estimate_run_bytes(tmp_path, 3)
    assert three - one == 2 * 2 * 1_000_000   # two more checkpoints at 2x the LLM
