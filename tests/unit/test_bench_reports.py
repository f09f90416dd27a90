"""The bench's report helpers read device output that is hard to come by
again (one device session a day): they must read it right."""
from __future__ import annotations

import json

import pytest

from bench.probes.pick_probe import pick
from bench.report.compile import compile_section
from bench.report.lesson_full import _how_call_ended, _loss_rows, losses_csv
from bench.report.multi_gpu import step_durations
from bench.suite.step_profile import summarise


def test_step_durations_are_the_gaps_between_the_jobmanagers_step_lines():
    log = "\n".join(["==> [16:39:46] train: python -m torch.distributed.run ...",
                     "Iter(train) [6/6] time: 0.6 memory: 9582",
                     "==> [16:42:22] convert_pretrain: python -m ...pth_to_hf",
                     "==> [16:42:50] convert_finetuned: python -m ...pth_to_hf"])
    assert step_durations(log) == {"train": 156, "convert_pretrain": 28}


def test_loss_table_keeps_the_resumed_calls_record_of_redone_steps(tmp_path):
    rows = ["iteration,loss,lr,seconds_per_iter,call"]
    rows += [f"{i},9.0,1e-4,0.5,a" for i in range(1, 8)]     # call 1 reached step 7
    rows += [f"{i},1.0,1e-4,0.6,b" for i in range(5, 11)]    # call 2 resumed at 4
    (tmp_path / "losses.csv").write_text("\n".join(rows) + "\n")
    table = _loss_rows(tmp_path, every=5)
    assert table[2] == "| 1-5 | 9.000 | 9.000 | 0.500 |"
    assert table[3] == "| 6-10 | 1.000 | 1.000 | 0.600 |"  # not call 1's 9.0 at steps 6, 7


def test_profile_summary_counts_operator_calls_per_step():
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(4):
            torch.ones(8, 8) @ torch.ones(8, 8)
    summary = summarise(profiler, wall_s=2.0, steps=2)
    json.dumps(summary)  # written as summary.json
    assert summary["wall_s_per_step"] == 1.0
    assert summary["aten_calls_per_step"] >= 2 * 3   # two ones + one matmul, twice a step
    assert summary["gpu_busy_s_per_step"] == 0.0


def test_losses_csv_reads_mmengines_step_lines_of_each_call(tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text("Iter(train) [ 1/1200]  lr: 2.0000e-09  eta: 1:00:00  time: 3.0173  "
                     "data_time: 0.1  memory: 14626  grad_norm: 9.1  loss: 11.5485\n"
                     "mmengine - INFO - Saving checkpoint at 150 iterations\n")
    second.write_text("Iter(train) [451/1200]  lr: 1.3e-04  eta: 0:05:00  time: 0.5549  "
                      "data_time: 0.03  memory: 14619  grad_norm: 0.8  loss: 0.0025\n")
    assert losses_csv([first, second]).splitlines() == [
        "iteration,loss,lr,seconds_per_iter,call",
        "1,11.5485,2.0000e-09,3.0173,a",
        "451,0.0025,1.3e-04,0.5549,b"]


def test_a_call_is_told_apart_by_how_it_ended():
    def run(iters, saved):
        return {"train": {"iters": iters, "max_iters": 1200}, "checkpoint": {"name": saved}}

    assert "stopped as the app's Stop button does" in _how_call_ended(run(860, "iter_860.pth"))
    assert "budget ran out" in _how_call_ended(run(1007, "iter_900.pth"))
    assert "reached the last step" in _how_call_ended(run(1200, "iter_1200.pth"))


def _probe(folder, name, spec, rc, iters, pace):
    results = {"meta": {"argv": ["run_bench.py", "--fast-variants", spec]},
               f"fast_{name}": {"train_rc": rc, "train": {"iters": iters, "s_per_iter": pace,
                                                          "first_iter_s": 150.0}}}
    (folder / f"{name}.json").write_text(json.dumps(results))


def test_the_second_call_picks_the_fastest_probe_that_trained(tmp_path):
    _probe(tmp_path, "graphs", "b1:cudagraphs", -11, 0, None)
    _probe(tmp_path, "slow", "b1:slow", 0, 150, 0.30)
    _probe(tmp_path, "quick", "b1:compile", -9, 53, 0.21)   # killed by its budget: still paced
    _probe(tmp_path, "died", "b1:died", 1, 5, 0.01)          # too few steps to say
    assert pick(tmp_path, "b1:fallback") == "b1:compile"
    assert pick(tmp_path / "none", "b1:fallback") == "b1:fallback"


def test_compile_section_has_a_row_per_run_with_its_note(tmp_path):
    _probe(tmp_path, "call2_blocks", "b1:compile", -9, 53, 0.2069)
    (tmp_path / "notes.json").write_text(json.dumps({"call2_blocks.json": "cut off at 53"}))
    rows = compile_section(tmp_path).splitlines()
    assert rows[2] == "| call2_blocks | -9 | 53 | 150 | 0.2069 | - | cut off at 53 |"


def test_pace_extrapolation_keeps_the_whole_runs_other_costs():
    from bench.report.pace import end_to_end_at

    whole = {"end_to_end_s": 383.0, "train": {"loop_s": 326.0}}
    assert end_to_end_at(0.1685, whole) == pytest.approx(57.0 + 1200 * 0.1685)


def test_start_up_phases_end_at_the_lines_the_trainer_logs():
    from bench.suite.procs import Result, start_phases

    text = ("[studio] warm start\n12/03 - INFO - System environment:\n"
            "12/03 - INFO - Load pretrained weight from iter_2181.pth\n")
    # Chunks arrive at t=101 (first line), 104 (second), 109 (third); launched at t=100.
    ends = [text.index("System"), text.index("Load") + 10, len(text)]
    result = Result(["python"], 0, 100.0, 120.0, chunks=list(zip((101.0, 104.0, 109.0), ends)),
                    text=text)
    assert start_phases(result) == {"imports_and_config": 104.0 - 100.0,
                                    "llm_and_clip_built": 109.0 - 100.0, "runner_ready": None}
