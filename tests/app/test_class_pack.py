"""bench/suite/class_pack.py, issue 15's class bench, run here on the CPU with toy
sizes (2 students, 2 runs per device): what a scarce device call needs from us
(one run alone, a class started at once through the scheduler, the records and
the summary) works. The summary's arithmetic: tests/unit/test_class_pack_report.py."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.processes]

ROOT = Path(__file__).resolve().parents[2]


def test_class_pack_script_runs_a_class_of_two_at_once_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite" / "class_pack.py"), "--tiny",
         "--students", "2", "--runs-per-device", "2", "--repeats", "1", "--out", str(out),
         "--work", str(tmp_path / "work"), "--budget-s", "800", "--label", "cpu"],
        env=env, capture_output=True, text=True, timeout=1200, start_new_session=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((out / "class_pack_cpu.json").read_text())
    summary = json.loads((out / "summary_cpu.json").read_text())
    assert summary["states"] == {"done": 2} and summary["passed"]
    # Both placed at submit on the CPU's two slots, each a student's own run.
    runs = result["class"]["runs"]
    assert [(r["owner"], r["state_at_submit"], r["device"]) for r in runs] == [
        ("student01", "running", "cpu"), ("student02", "running", "cpu")]
    assert all(r["iterations"] == r["max_iters"] == 6 and not r["oom"] for r in runs)
    # The disk the app reserved for each run, against its folder at the end.
    for r in runs:
        assert 0 < r["folder_bytes"] <= r["reserved_bytes"], r
        reserved = (tmp_path / "work" / "studio" / "runs" / r["run_id"] / "disk_estimate.txt")
        assert r["reserved_bytes"] == int(reserved.read_text())
    assert summary["disk_reserved_gb"] is not None and summary["disk_over_estimate"] == []
    # One run alone first, timed, then deleted (its disk is the class's).
    assert result["alone"]["state"] == "done" and result["alone_s"] > 0
    assert not (tmp_path / "work" / "studio" / "runs" / result["alone"]["run_id"]).exists()
    assert summary["ratio"] == pytest.approx(summary["makespan_s"] / (2 * result["alone_s"]),
                                             abs=0.01)
    assert "makespan packed" in done.stdout and "PASSED" in done.stdout
    assert sorted(p.name for p in out.glob("run_*.log")) == [
        "run_alone.log", "run_student01.log", "run_student02.log"]
