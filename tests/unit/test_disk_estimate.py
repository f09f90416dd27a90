"""A run's disk estimate counts the checkpoints it will really hold at once."""
import pytest

from backend.training.disk import checkpoints_at_peak, estimate_run_bytes
from backend.xtuner.recipes import FAST, LESSON, checkpoint_contents

LLM = 1_000_000
MIN_FREE = 200 * 1024 * 1024


def test_checkpoints_at_peak_follow_the_saves_and_the_limit():
    # The lesson: 1,200 steps, a save every 500 and at the end, two kept: three
    # exist for a moment (the third written before the first is removed).
    assert checkpoints_at_peak(1200, 500, 2) == 3
    assert checkpoints_at_peak(1000, 500, 2) == 2   # the end save is the 1,000 one
    # A short run saves once, at its end, whatever the limit.
    assert checkpoints_at_peak(60, 10_000, 1) == 1
    assert checkpoints_at_peak(60, 10_000, 5) == 1
    assert checkpoints_at_peak(600, 50, 1) == 2


def test_the_estimate_grows_by_a_full_checkpoint_each(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x" * LLM)
    lesson = checkpoint_contents(LESSON)
    one, three = estimate_run_bytes(tmp_path, 1, lesson), estimate_run_bytes(tmp_path, 3, lesson)
    assert three - one == 2 * 2 * LLM   # two more save_steps checkpoints at 2x the LLM


def test_the_final_checkpoint_counts_without_adams_state(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x" * LLM)

    def estimate(checkpoints, recipe, deepspeed=""):
        """In LLM folders (to the byte: the estimate rounds down)."""
        contents = checkpoint_contents(recipe, deepspeed)
        return pytest.approx((estimate_run_bytes(tmp_path, checkpoints, contents) - MIN_FREE)
                             / LLM, abs=1 / LLM)

    # One save (the class bench's lesson run): the lean final one and two
    # converted folders, 0.7 + 2 x 0.4 LLM folders (was 2.0 + 0.8).
    assert estimate(1, LESSON) == 1.5
    # The lesson's 1,200 steps (three at the peak): two full ones and the lean final.
    assert estimate(3, LESSON) == 2 * 2.0 + 0.7 + 0.8
    # The CPU's plain render follows the same rule as the lesson recipe.
    assert estimate(3, None) == 2 * 2.0 + 0.7 + 0.8
    # DeepSpeed keeps Adam's state in every checkpoint, the final one too.
    assert estimate(1, LESSON, "deepspeed_zero2") == 2.0 + 0.8
    # The fast recipe saves no optimizer state at all: every checkpoint is lean.
    assert estimate(3, FAST) == 3 * 0.7 + 0.8
