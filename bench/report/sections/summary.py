"""The report's head: the setup, every flow's row and the ratios against issue 5's targets."""
from __future__ import annotations

from bench.report.prose import prose
from bench.report.results import Results, fmt, full, peak_gib, ratio

META = ("date", "gpu", "gpu_total_gib", "python", "torch", "transformers", "xtuner",
        "bitsandbytes", "build_s", "seq_len")


def flow_row(flow: dict) -> str:
    """The cells after a flow's name, or why it has none."""
    train = flow.get("train", {})
    if not train:
        return f"{flow.get('error') or flow.get('skipped') or 'not run'} | | | | | | |"
    ckpt = flow.get("checkpoint") or {}
    return (f"{flow.get('batch_size', 1)} | {train.get('iters')} "
            f"| {fmt(train.get('s_per_iter'), 3)} | {fmt(train.get('first_iter_s'))} "
            f"| {fmt(peak_gib(flow), 2)} | {fmt(ckpt.get('gib'), 2)} "
            f"| {fmt(flow.get('end_to_end_s'))} | {fmt(full(flow))}")


def lesson_s_ratio(r: Results) -> float | None:
    """The app's lesson-recipe s/iter over the CLI's."""
    return ratio(r.lesson.get("train", {}).get("s_per_iter"),
                 r.cli.get("train", {}).get("s_per_iter"))


def summary(r: Results) -> str:
    cli_full = full(r.cli)
    return prose("summary", **{key: r.meta.get(key) for key in META},
                 cli_row=flow_row(r.cli), lesson_row=flow_row(r.lesson),
                 fast_row=flow_row(r.fast), lr1_row=flow_row(r.flow("fast_lr0.001")),
                 lr2_row=flow_row(r.flow("fast_lr0.002")),
                 lesson_ratio=fmt(ratio(full(r.lesson), cli_full), 2),
                 s_ratio=fmt(lesson_s_ratio(r), 3),
                 fast_ratio=fmt(ratio(full(r.fast), cli_full), 2),
                 lesson_peak=fmt(peak_gib(r.lesson), 2))
