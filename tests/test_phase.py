"""The run's phase from its state and log, its progress, the queue's estimated start
and the time over every launch (log samples from real xtuner runs)."""
import time
from pathlib import Path

import pytest

from backend.jobs import JobManager
from backend.phase import PHASES, phase_of, progress_fraction
from backend.run_clock import read_launches, record_launch, total_elapsed
from backend.run_registry import RunRegistry
from backend.run_status import run_status
from tests.test_jobs import spec_for, wait_for

REAL_LOG = Path(__file__).parent.parent / "bench/results/multi_gpu/run.log"

STEP = "\n==> [16:39:46] train: python -m xtuner.tools.train finetune_config.py\n"
IMPORTS = STEP + ("/venv/lib/python3.12/site-packages/mmengine/utils/dl_utils/setup_env.py:"
                  "56: UserWarning: Setting MKL_NUM_THREADS environment variable\n")
DATA = IMPORTS + ("11/30 16:40:20 - mmengine - INFO - xtuner_dataset_timeout = 1:00:00\n"
                  "Map (num_proc=32): 100%|##########| 600/600 [00:00<00:00]\n")
MODELS = DATA + ("11/30 16:40:20 - mmengine - INFO - LengthGroupedSampler construction is "
                 "complete, and the selected attribute is modality_length\n"
                 "11/30 16:40:20 - mmengine - WARNING - \"FileClient\" will be deprecated\n")
FIRST_EVAL = MODELS + ("11/30 16:40:39 - mmengine - INFO - Num train samples 12\n"
                       "11/30 16:40:39 - mmengine - INFO - before_train in EvaluateChatHook.\n"
                       "11/30 16:40:44 - mmengine - INFO - Sample output:\n"
                       "<s><|im_start|>user\n在停车场 <|im_end|>\n")
TRAINING = FIRST_EVAL + ("11/30 16:41:06 - mmengine - INFO - Checkpoints will be saved to /r.\n"
                         "11/30 16:41:08 - mmengine - INFO - Iter(train) [1/6]  lr: 2.0e-09  "
                         "loss: 11.5591\n")
SAVING = TRAINING + ("11/30 16:41:38 - mmengine - INFO - Saving checkpoint at 6 iterations\n"
                     "[2026-11-30 16:41:41,872] [INFO] [torch_checkpoint_engine.py:21:save] "
                     "[Torch] Saving /r/train/iter_6.pth/bf16_zero_pp_rank_0_optim_states.pt\n")
LAST_EVAL = SAVING + "11/30 16:41:47 - mmengine - INFO - after_train in EvaluateChatHook.\n"
RESUMED = LAST_EVAL + STEP + ("11/30 16:50:02 - mmengine - INFO - Load checkpoint from "
                              "/r/train/iter_125.pth\n"
                              "11/30 16:50:02 - mmengine - INFO - resumed epoch: 0, iter: 125\n")


@pytest.mark.parametrize("log, phase", [
    ("", "loading models"), (IMPORTS, "loading models"), (DATA, "preparing data"),
    (MODELS, "loading models"), (FIRST_EVAL, "evaluating"), (TRAINING, "training"),
    (SAVING, "saving"), (LAST_EVAL, "evaluating"), (RESUMED, "loading models")])
def test_phase_from_log_samples(log, phase):
    assert phase_of("running", log) == phase


def test_phase_from_state():
    assert phase_of("queued", TRAINING) == "waiting"
    assert phase_of("converting", TRAINING) == "converting"
    assert phase_of("done", TRAINING) is None and phase_of("stopped", "") is None


def test_every_phase_of_a_real_multi_gpu_run_in_order():
    lines = REAL_LOG.read_text(encoding="utf-8").splitlines()
    seen = []
    for end in range(1, len(lines) + 1):
        converting = any(line.startswith("==> ") and "convert_" in line for line in lines[:end])
        state = "converting" if converting else "running"
        phase = phase_of(state, "\n".join(lines[max(0, end - 40):end]))
        if not seen or seen[-1] != phase:
            seen.append(phase)
    assert set(seen) <= set(PHASES)
    assert seen[0] == "loading models" and seen[-1] == "converting"
    for earlier, later in (("preparing data", "evaluating"), ("evaluating", "training"),
                           ("training", "saving")):
        assert seen.index(earlier) < seen.index(later), seen


def test_progress_moves_through_start_up_training_and_conversion():
    steps = [progress_fraction("queued", "waiting", 0, 100),
             progress_fraction("running", "loading models", 0, 100),
             progress_fraction("running", "preparing data", 0, 100),
             progress_fraction("running", "evaluating", 0, 100),
             progress_fraction("running", "training", 50, 100),
             progress_fraction("running", "evaluating", 100, 100),
             progress_fraction("converting", "converting", 100, 100, "convert_pretrain"),
             progress_fraction("converting", "converting", 100, 100, "convert_finetuned"),
             progress_fraction("done", None, 100, 100)]
    assert steps == sorted(steps) and steps[0] == 0.0 and steps[-1] == 1.0
    assert len(set(steps)) == len(steps) - 1  # only the end of training == conversion start
    # A resumed run does not fall back to the start-up's share while it reloads.
    assert progress_fraction("running", "loading models", 50, 100) == steps[4]


def test_elapsed_counts_every_launch(tmp_path):
    record_launch(tmp_path, 1000.0, 1100.0)   # trained 100 s, then stopped
    record_launch(tmp_path, 1000.0, 1100.0)   # the same launch once only
    assert read_launches(tmp_path) == [(1000.0, 1100.0)]
    # Resumed at 2000, running now at 2030: 100 + 30.
    assert total_elapsed(tmp_path, 2000.0, None, now=2030.0) == 130.0
    record_launch(tmp_path, 2000.0, 2050.0)   # that launch ends
    assert total_elapsed(tmp_path, 2000.0, 2050.0, now=9999.0) == 150.0
    assert total_elapsed(tmp_path / "new", None, None) == 0.0


@pytest.mark.processes
def test_run_status_through_a_real_manager(tmp_path):
    registry = RunRegistry(tmp_path / "studio.db")

    def after_job(spec, _outcome):
        record = registry.get(spec.run_id)
        record_launch(spec.run_dir, record["started_at"], record["ended_at"])

    jobs = JobManager(registry, max_queue=4, stop_grace_s=2, after_job=after_job)
    try:
        jobs.submit(spec_for(tmp_path, "run-a", FAKE_ITERS=200, FAKE_SLEEP=0.05))
        jobs.submit(spec_for(tmp_path, "run-b", FAKE_ITERS=10))
        jobs.submit(spec_for(tmp_path, "run-c", FAKE_ITERS=10))
        wait_for(jobs, "run-a", {"running"})
        for _ in range(200):
            first = run_status(jobs, "run-a")
            if first["iter"] >= 5 and first["eta_s"]:
                break
            time.sleep(0.05)
        assert first["phase"] == "training" and 0.1 < first["progress"] < 0.9
        second, third = run_status(jobs, "run-b"), run_status(jobs, "run-c")
        assert second["phase"] == third["phase"] == "waiting"
        assert second["progress"] == 0.0
        # Run b waits for a's rest; c also for b's 10 iterations at a's pace.
        assert second["estimated_start_s"] >= first["eta_s"]
        assert third["estimated_start_s"] > second["estimated_start_s"]
        # Stop and resume a: elapsed keeps counting from where it was.
        jobs.stop("run-a")
        stopped = wait_for(jobs, "run-a", {"stopped"})
        before = run_status(jobs, "run-a")["elapsed_s"]
        assert before > 0
        jobs.stop("run-b")
        jobs.stop("run-c")
        jobs.resume("run-a")
        wait_for(jobs, "run-a", {"running"})
        resumed = run_status(jobs, "run-a")
        assert resumed["elapsed_s"] >= before > resumed["launch_elapsed_s"]
        assert stopped["state"] == "stopped"
    finally:
        for run in ("run-a", "run-b", "run-c"):
            jobs.stop(run, keep_progress=False)
        jobs.shutdown()


@pytest.mark.processes
def test_run_status_log_tail_has_no_replacement_character(tmp_path):
    jobs = JobManager(RunRegistry(tmp_path / "studio.db"), stop_grace_s=2)
    try:
        spec = spec_for(tmp_path, "run-x", FAKE_ITERS=2)
        jobs.submit(spec)
        wait_for(jobs, "run-x", {"done"})
        with open(spec.log_file, "ab") as log:
            log.write("Sample output: 在停\n".encode()[:-4] + b"\xe5\x9c\n")
        assert "\ufffd" in jobs.snapshot("run-x")["log_tail"]
        assert "\ufffd" not in run_status(jobs, "run-x")["log_tail"]
    finally:
        jobs.shutdown()
