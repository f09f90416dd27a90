"""Issue 18's verdict table: the GPU default row follows the target rows."""
from bench.report.issue18 import figures, verdict_table

ANSWER = {"question": "q", "answer": "a", "rouge_l": 1.0}


def _figures(app_s: float, both_s: float) -> dict:
    flow = {"train_rc": 0, "batch_size": 1, "end_to_end_s": 0.0,
            "train": {"iters": 1200, "max_iters": 1200, "s_per_iter": 0.1, "peak_mib": 15000}}
    cli, app = dict(flow, end_to_end_s=1000.0), dict(flow, end_to_end_s=app_s)
    whole = dict(app, outcome={"answers": [ANSWER] * 6})
    return {"pace": [{"name": "fast_b1", "peak_mib": 15000}], "cli": cli, "app": app,
            "whole": whole, "cli_full": 1000.0, "app_full": app_s,
            "whole_reproduced": 6, "whole_questions": 6,
            "compare": {"app": [{"first_tokens_s": 0.2, "both_s": both_s}],
                        "xtuner_chat": {"base": {"answer_s": 5.0}}}}


def _default_row(table: str) -> str:
    return next(line for line in table.splitlines() if "default becomes" in line)


def test_the_default_row_follows_the_targets_and_the_app_s_own_default():
    met, slow, slow_compare = (_figures(app_s=190.0, both_s=4.0), _figures(app_s=250.0, both_s=4.0),
                               _figures(app_s=190.0, both_s=6.0))
    assert "**done**" in _default_row(verdict_table(met, default_recipe="auto"))
    assert "**to do**" in _default_row(verdict_table(met, default_recipe="lesson"))
    for unmet in (slow, slow_compare):
        assert "**not done**" in _default_row(verdict_table(unmet, default_recipe="lesson"))
        assert "**done too early**" in _default_row(verdict_table(unmet, default_recipe="fast"))


def test_the_table_reads_the_default_the_app_ships():
    from backend.settings import build_parser

    shipped = build_parser().get_default("recipe")
    assert f"`--recipe {shipped}` is the default" in verdict_table(_figures(190.0, 4.0))


def test_an_earlier_side_by_side_is_named_beside_the_ratio():
    table = verdict_table(_figures(190.0, 4.0), calls={"earlier": "before"},
                          earlier=_figures(app_s=221.0, both_s=4.0))
    assert "0.190x" in table and "the earlier side-by-side (before): 0.221x" in table


def test_an_empty_results_folder_meets_no_target(tmp_path):
    table = verdict_table(figures(tmp_path), default_recipe="lesson")  # nothing measured
    assert table.count("**not met**") == 5 and "**not done**" in table
