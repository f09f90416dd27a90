"""bench/suite/multi_gpu_app.py, the issue's 2-GPU run through the app's backend, run
here on CPU with toy sizes and one process: what a scarce device call needs
from us (dataset, run, train + both pth_to_hf, the rank lines) works."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_multi_gpu_script_completes_a_run_through_the_backend(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite" / "multi_gpu_app.py"), "--tiny", "--out", str(out),
         "--work", str(tmp_path / "work"), "--budget-s", "600"],
        env=env, capture_output=True, text=True, timeout=900, start_new_session=True)
    result = json.loads((out / "results_multi_gpu.json").read_text())
    assert done.returncode == 0, result["error"] + result["log_tail"]
    assert result["state"] == "done" and result["samples"] == 12
    assert result["ranks"] == {"0": "cpu"} and result["world_size"] == 1
    assert [line.split(": ")[0].split("] ")[1] for line in result["step_lines"]] == [
        "train", "convert_pretrain", "convert_finetuned"]
    assert (tmp_path / "work" / "studio" / "runs" / result["run_id"] / "hf_finetuned"
            / "projector").is_dir()
