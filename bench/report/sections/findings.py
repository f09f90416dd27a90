"""The device runs' own sections: each a table computed from its raw folder under
bench/results/, between the words of bench/report/prose/<section>.md."""
from __future__ import annotations

from bench.report.class_pack import class_pack_section
from bench.report.compile import compile_section
from bench.report.explore import explore_section, load_variants
from bench.report import issue18 as fast_recipe
from bench.report.launch import launch_section
from bench.report.lesson_full import lesson_full_section, partial_run_line
from bench.report.multi_gpu import multi_gpu_section
from bench.report.pace import pace_section
from bench.report.profile import profile_section
from bench.report.prose import prose
from bench.report.results import Results, full
from bench.report.step_noise import issue18_logs, step_noise_table

# The lesson recipe's first, checkpoint-losing attempt at its full length.
PARTIAL_RUN = "lesson_full_session4"


def explore(r: Results) -> str:
    return prose("explore", table=explore_section(r.folder / "explore"))


def lesson_full(r: Results) -> str:
    return prose("lesson_full", table=lesson_full_section(r.folder / "lesson_full"),
                 partial_run=partial_run_line(r.folder / PARTIAL_RUN))


def profile(r: Results) -> str:
    return prose("profile", table=profile_section(r.folder / "profile"))


def compile_(r: Results) -> str:
    return prose("compile", table=compile_section(r.folder / "compile"))


def pace(r: Results) -> str:
    # The whole-length batch-1 run whose other costs the pace probes add to.
    batch1 = next((v for v in load_variants(r.folder / "explore")
                   if v.get("recipe") == "fast_b1_lr2e-4_nockpt"), None)
    table = (pace_section(r.folder / "pace", batch1, full(r.cli)) if batch1
             else "No whole-length batch-1 run.")
    return prose("pace", table=table)


def multi_gpu(r: Results) -> str:
    return prose("multi_gpu", table=multi_gpu_section(r.folder / "multi_gpu"))


def class_pack(r: Results) -> str:
    return prose("class_pack", table=class_pack_section(r.folder / "class_pack"))


def launch(r: Results) -> str:
    return prose("launch", table=launch_section(r.folder / "launch"))


def issue18(r: Results) -> str:
    figures = fast_recipe.figures(r.folder / "issue18")
    warm = fast_recipe.figures(r.folder / "issue18_warm")
    shared = fast_recipe.figures(r.folder / "issue18_shared", compare_call="compare",
                                 whole_from=r.folder / "issue18_warm")
    calls = {"whole": "the twelfth session's call 3, below", "compare": "call 3",
             "earlier": "the twelfth session's call 2, the same training with 8 threads set by "
                        "hand, and Compare's answers then 14.2 s"}
    return prose("issue18", verdict=fast_recipe.verdict_table(shared, calls, earlier=warm),
                 shared_pace=fast_recipe.pace_table(shared),
                 shared_pace_compare=fast_recipe.compare_lines(
                     fast_recipe.figures(r.folder / "issue18_shared")),
                 shared_side_by_side=fast_recipe.side_by_side_table(shared),
                 shared_compare=fast_recipe.compare_lines(shared),
                 step_noise=step_noise_table(issue18_logs(r.folder), r.folder),
                 warm_verdict=fast_recipe.verdict_table(warm, default_recipe="lesson"),
                 warm_pace=fast_recipe.pace_table(warm),
                 warm_side_by_side=fast_recipe.side_by_side_table(warm),
                 warm_whole_length=fast_recipe.whole_length_lines(warm),
                 pace=fast_recipe.pace_table(figures),
                 side_by_side=fast_recipe.side_by_side_table(figures),
                 whole_length=fast_recipe.whole_length_lines(figures))
