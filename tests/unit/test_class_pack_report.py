"""Issue 15's class bench: the summary and RESULTS.md table read from a class's
results JSON (bench/report/class_pack.py), and the run log figures
(bench/suite/class_pack.py). Device output is scarce: these must read it right."""
import json

from bench.report.class_pack import class_pack_section, summarize, summary_lines
from bench.suite.class_pack import log_stats


def student(i, device="cuda:0", queued=None, start=0.0, end=300.0, state="done", **more):
    return {"owner": f"student{i:02d}", "run_id": f"run-{i}", "device": device,
            "state_at_submit": "queued" if queued else "running",
            "queue_position_at_submit": queued, "started_at": 1000.0 + start,
            "ended_at": 1000.0 + end, "state": state, "peak_mib": 14626, "oom": False, **more}


def result(runs, alone_s=220.0, **more):
    return {"meta": {"gpus": "0"}, "alone_s": alone_s, "timed_out": False,
            "class": {"submitted_at": 1000.0, "runs": runs}, **more}


def test_a_class_of_eight_packed_on_one_gpu_meets_the_target():
    # Seven placed at once; the eighth waited for memory, started 60 s later.
    runs = [student(i) for i in range(1, 8)] + [student(8, queued=1, start=60, end=420)]
    s = summarize(result(runs))
    assert (s["first_wave"], s["queued_at_submit"]) == (7, 1)
    assert s["first_wave_devices"] == {"cuda:0": 7} and s["devices"] == {"cuda:0": 8}
    assert s["makespan_s"] == 420 and s["sequential_s"] == 8 * 220
    assert s["ratio"] == round(420 / 1760, 3) and s["ratio"] <= s["target_ratio"] == 0.35
    assert s["passed"] and s["checks"] == {"all_done": True, "no_oom": True,
                                           "fair_order": True, "ratio": True}
    text = "\n".join(summary_lines(s))
    assert "= 0.239 (target <= 0.35)" in text and "PASSED" in text


def test_what_fails_a_class_too_slow_an_oom_a_failure_or_the_order_broken():
    slow = [student(i, end=700) for i in range(1, 9)]
    assert summarize(result(slow))["checks"]["ratio"] is False
    oom = [student(1, state="failed", oom=True)] + [student(i) for i in range(2, 9)]
    s = summarize(result(oom))
    assert s["oom"] == ["student01"] and not s["checks"]["no_oom"]
    assert not s["checks"]["all_done"] and not s["passed"]
    # Queue positions 1 and 2 started the other way round.
    swapped = [student(1), student(2, queued=1, start=90), student(3, queued=2, start=80)]
    assert summarize(result(swapped))["checks"]["fair_order"] is False


def test_a_class_of_sixteen_over_two_gpus_with_a_second_wave_and_no_alone_run():
    first = [student(i, device=f"cuda:{i % 2}") for i in range(1, 9)]
    rest = [student(8 + q, device=f"cuda:{q % 2}", queued=q, start=300 + q, end=640)
            for q in range(1, 9)]
    s = summarize(result(first + rest, alone_s=None))
    assert s["first_wave_devices"] == {"cuda:0": 4, "cuda:1": 4}
    assert s["queued_at_submit"] == 8 and s["checks"]["fair_order"]
    assert s["ratio"] is None and "ratio" not in s["checks"]  # no run alone: no ratio
    assert s["makespan_s"] == 640 and s["students"] == 16 and s["passed"]


def test_a_refused_start_and_a_run_still_going_at_the_budget_are_said():
    runs = [student(1), {"owner": "student02", "refused": True, "state": "refused",
                         "error": "Not enough free disk", "submitted_at": 1000.0},
            student(3, state="stopped", end=530)]
    s = summarize(result(runs, timed_out=True))
    assert s["refused"] == 1 and s["makespan_s"] is None and s["ratio"] is None
    assert s["states"] == {"done": 1, "refused": 1, "stopped": 1} and not s["passed"]
    assert "TIMED OUT" in summary_lines(s)[0]


def test_the_disk_each_run_reserved_against_its_folder_at_the_end():
    runs = [student(1, reserved_bytes=5_880_000_000, folder_bytes=4_100_000_000),
            student(2, reserved_bytes=5_880_000_000, folder_bytes=6_000_000_000),
            {"owner": "student03", "refused": True, "state": "refused", "error": "disk",
             "submitted_at": 1000.0}]
    s = summarize(result(runs))
    assert (s["disk_reserved_gb"], s["disk_measured_gb"]) == (5.88, 6.0)
    assert s["disk_over_estimate"] == ["student02"]
    text = "\n".join(summary_lines(s))
    assert "reserved 5.88 GB, its folder at the end 6.00 GB" in text
    assert "over the reservation: ['student02']" in text
    # Results from before the figures were recorded say so.
    old = summarize(result([student(1)]))
    assert old["disk_reserved_gb"] is None and not old["disk_over_estimate"]
    assert "reserved –, its folder at the end –" in "\n".join(summary_lines(old))


def test_the_results_section_has_a_row_per_class_run(tmp_path):
    assert class_pack_section(tmp_path) == "Not run yet."
    runs = [student(i, reserved_bytes=5_880_000_000, folder_bytes=4_100_000_000)
            for i in range(1, 9)]
    (tmp_path / "class_pack_n8_gpus0.json").write_text(json.dumps(result(runs)))
    table = class_pack_section(tmp_path).splitlines()
    assert len(table) == 3 and table[2].startswith("| n8_gpus0 | 0 | 8 | 8 (cuda:0: 8) |")
    assert "| 5.88 GB / 4.10 GB | 300 s | 220 s | 0.17 (0.35) | True |" in table[2]


def test_log_figures_peak_memory_pace_and_out_of_memory():
    log = "\n".join([
        "Iter(train) [ 1/60]  lr: 2e-09  eta: 0:01:00  time: 3.0173  data_time: 0.1  "
        "memory: 14001  loss: 11.5",
        "Iter(train) [ 2/60]  lr: 2e-04  eta: 0:00:30  time: 1.0500  data_time: 0.1  "
        "memory: 14626  loss: 9.1",
        "Iter(train) [ 3/60]  lr: 2e-04  eta: 0:00:29  time: 1.0700  data_time: 0.1  "
        "memory: 14626  loss: 8.0"])
    assert log_stats(log) == {"iterations": 3, "s_per_iter": 1.06, "peak_mib": 14626,
                              "oom": False}
    assert log_stats(log + "\ntorch.OutOfMemoryError: CUDA out of memory.")["oom"]
    assert log_stats("") == {"iterations": 0, "s_per_iter": None, "peak_mib": None,
                             "oom": False}
