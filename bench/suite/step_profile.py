"""Where a training step's time goes, for the fast-recipe speed work.

An mmengine hook the bench appends to a rendered config (``run_bench.py
--profile``): it runs torch.profiler over a few steps after the warm-up ones
and writes, next to the run's results, the steps' wall time, how much of it
the GPU was busy, how many kernels were launched, and the top operators by
GPU and by CPU time. Bench-only: the app never loads it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from mmengine.hooks import Hook


class StepProfileHook(Hook):
    priority = "VERY_LOW"

    def __init__(self, out_dir: str, start: int = 10, steps: int = 5):
        self.out_dir = Path(out_dir)
        self.start, self.steps = start, steps
        self._profiler = None
        self._started = 0.0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter != self.start or runner.rank != 0:
            return
        import torch
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():  # the bench's --tiny form runs on CPU
            torch.cuda.synchronize()
            activities.append(ProfilerActivity.CUDA)
        self._profiler = profile(activities=activities)
        self._profiler.__enter__()
        self._started = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._profiler is None or runner.iter + 1 < self.start + self.steps:
            return
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall = time.perf_counter() - self._started
        self._profiler.__exit__(None, None, None)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.joinpath("summary.json").write_text(
            json.dumps(summarise(self._profiler, wall, self.steps), indent=1))
        averages = self._profiler.key_averages()
        for sort in ("self_cuda_time_total", "self_cpu_time_total"):
            self.out_dir.joinpath(f"top_{sort}.txt").write_text(
                averages.table(sort_by=sort, row_limit=40))
        self._profiler = None


def summarise(profiler, wall_s: float, steps: int) -> dict:
    """Per step: wall, GPU-busy seconds (kernel time, overlaps merged) and
    kernel launches; named phases (optimizer step, data loading) as the
    profiler records them."""
    kernels = [e for e in profiler.events() if e.device_type.name == "CUDA"]
    intervals = sorted((e.time_range.start, e.time_range.end) for e in kernels)
    busy_us, end = 0.0, float("-inf")
    for start, stop in intervals:
        if stop <= end:
            continue
        busy_us += stop - max(start, end)
        end = stop
    launches = sum(1 for e in profiler.events() if e.name in ("cudaLaunchKernel",
                                                               "cuLaunchKernel",
                                                               "cudaLaunchKernelExC"))
    aten_calls = sum(1 for e in profiler.events() if e.name.startswith("aten::"))
    phases = {}
    for event in profiler.key_averages():
        if event.key.startswith(("Optimizer.step", "Optimizer.zero_grad",
                                 "enumerate(DataLoader)")):
            phases[event.key] = round(event.cpu_time_total / 1e6 / steps, 4)
    return {"steps": steps, "wall_s_per_step": round(wall_s / steps, 4),
            "gpu_busy_s_per_step": round(busy_us / 1e6 / steps, 4),
            "gpu_busy_fraction": round(busy_us / 1e6 / wall_s, 3) if wall_s else None,
            "kernel_launches_per_step": launches // steps,
            "aten_calls_per_step": aten_calls // steps,
            "phases_cpu_s_per_step": phases}
