"""The shared demo run (tests/support/trained_app.py, started with
--warm-trainers on) trained and converted in processes started ahead of it:
real xtuner, whose answers the compare tests check."""
import re

import pytest

from backend.xtuner.trainer_side.warm_trainer import READY
from tests.support.polling import poll_until

pytestmark = [pytest.mark.slow, pytest.mark.processes]


def test_the_shared_run_trained_and_converted_in_warm_processes(trained_demo):
    log = (trained_demo["run_dir"] / "run.log").read_text(encoding="utf-8")
    warm = re.findall(r"\[studio\] warm start: (\S+)", log)
    assert warm == ["xtuner.tools.train", "xtuner.tools.model_converters.pth_to_hf",
                    "xtuner.tools.model_converters.pth_to_hf"], log[-3000:]
    # xtuner's own training log, from the warm process, in the run's log.
    assert f"Iter(train) [{trained_demo['max_iters']}/{trained_demo['max_iters']}]" in log
    # The server keeps one ready for the next run; its imports went to its own log.
    spare_log = trained_demo["root"] / "work" / "logs" / "warm-trainers.log"
    poll_until(lambda: spare_log.read_text().count(READY) >= 4,
               message=lambda: spare_log.read_text()[-2000:])
