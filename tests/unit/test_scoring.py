"""Scores, diffs and the probe table: pure logic, no models."""
import json

import pytest

from backend.data import dataset
from backend.compare.probes import (CSV_COLUMNS, DEFAULT_PROBES, MAX_PROBES, OTHER_IMAGE,
                            TRAINING_IMAGE, ProbeError, ReferenceBook, parse_probes, plan,
                            row, to_frame, write_csv)
from backend.compare.scoring import (best_rouge_l, diff_html, is_verbatim, rouge_l, score_answer,
                             word_diff)
from tests.support.compare import LATTE, LESSON_LIKE, fake_service  # noqa: F401

def book() -> ReferenceBook:
    return ReferenceBook(dataset.parse_qa_json(json.dumps(LESSON_LIKE)))


def test_rouge_l_identical_unrelated_and_empty():
    assert rouge_l(LATTE, LATTE) == pytest.approx(1.0)
    assert rouge_l("A brown tabby cat looks to the side.", LATTE) < 0.3
    assert rouge_l("", LATTE) == 0.0


def test_rouge_l_scores_chinese_by_character():
    assert rouge_l("一杯拿铁咖啡", "一杯拿铁咖啡") == pytest.approx(1.0)
    assert 0.3 < rouge_l("一杯咖啡", "一杯拿铁咖啡") < 1.0


def test_best_reference_wins_among_contradictions():
    score, best = best_rouge_l("Coffee, a flat white.", [LATTE, "Coffee, a flat white."])
    assert score == pytest.approx(1.0) and best == "Coffee, a flat white."
    assert best_rouge_l("anything", []) == (0.0, None)


def test_verbatim_ignores_case_and_spacing_only():
    assert is_verbatim("a cup of latte with  milk foam art shaped like a leaf.", [LATTE])
    assert not is_verbatim("A cup of latte with milk foam art.", [LATTE])
    assert not is_verbatim("", [""])


def test_word_diff_marks_added_and_missing_words():
    pieces = word_diff("A cup of black coffee.", "A cup of latte.")
    assert ("same", "A cup of") in pieces
    assert ("missing", "latte.") in pieces
    assert ("added", "black coffee.") in pieces
    assert word_diff(LATTE, LATTE) == [("same", LATTE)]


def test_diff_html_escapes_model_text():
    html = diff_html("<script>x</script> cup", "cup")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<ins" in html


def test_score_answer_for_an_unseen_question_has_no_reference_and_no_flag():
    score = score_answer(LATTE, [], [LATTE])
    assert score.rouge_l is None and not score.has_reference
    assert score.verbatim is False
    assert score.echo_rouge_l == pytest.approx(1.0)  # ...but it echoes a trained answer


def test_reference_book_groups_answers_by_question():
    b = book()
    assert b.questions() == ["What drink is in the cup?", "What color is the cup?"]
    assert b.references("WHAT drink is in the cup?") == [LATTE, "Coffee, a flat white."]
    assert b.references("Is it raining?") == []
    assert len(b.all_answers()) == 3


def test_parse_probes_defaults_lines_json_and_limits():
    assert parse_probes("") == list(DEFAULT_PROBES)
    assert parse_probes("Q one?\n\nQ two?\nQ one?") == ["Q one?", "Q two?"]
    assert parse_probes('["A?", "B?"]') == ["A?", "B?"]
    with pytest.raises(ProbeError):
        parse_probes("\n".join(f"Q{i}?" for i in range(MAX_PROBES + 1)))
    with pytest.raises(ProbeError):
        parse_probes("[not json")


def test_plan_asks_trained_and_unseen_questions_on_both_images(tmp_path):
    cases = plan(book(), ["Is it raining?", "What color is the cup?"],
                 tmp_path / "a.jpg", tmp_path / "b.jpg")
    questions = [c.question for c in cases]
    # The probe that was in fact trained is not asked twice.
    assert questions == ["What drink is in the cup?", "What color is the cup?",
                         "Is it raining?"] * 2
    assert [c.image_label for c in cases] == [TRAINING_IMAGE] * 3 + [OTHER_IMAGE] * 3
    assert cases[2].references == ()


def test_rows_table_and_csv(tmp_path):
    b = book()
    cases = plan(b, ["Is it raining?"], tmp_path / "a.jpg", tmp_path / "b.jpg")
    rows = [row(cases[0], "Green eyes: a brown tabby cat.", LATTE, b.all_answers()),
            row(cases[2], "Green eyes: a brown tabby cat.", LATTE, b.all_answers())]
    trained, unseen = rows
    assert trained["finetuned_rouge_l"] == 1.0 and trained["finetuned_verbatim"] is True
    assert trained["base_rouge_l"] <= 0.3 and trained["base_verbatim"] is False
    assert trained["reference"] == LATTE
    assert unseen["reference"] is None and unseen["finetuned_rouge_l"] is None
    assert unseen["finetuned_verbatim"] is False and unseen["trained"] is False
    assert unseen["finetuned_echo_rouge_l"] == 1.0
    assert unseen["finetuned_diff_html"] == ""
    frame = to_frame(rows)
    assert list(frame.columns) == CSV_COLUMNS
    path = write_csv(rows, tmp_path / "scores.csv")
    import pandas as pd

    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back["question"].tolist() == ["What drink is in the cup?", "Is it raining?"]
    assert "finetuned_diff_html" not in back.columns


def test_probe_table_for_the_page_in_both_languages(tmp_path):
    from ui.compare_view import PROBE_DATATYPES, probe_frame
    from ui.messages_compare import EN_COMPARE, ZH_COMPARE

    assert set(EN_COMPARE) == set(ZH_COMPARE)
    b = book()
    cases = plan(b, ["Is it raining?"], tmp_path / "a.jpg", tmp_path / "b.jpg")
    rows = [row(case, "Green eyes.", LATTE, b.all_answers()) for case in cases]
    frame = probe_frame(rows, ZH_COMPARE)
    assert len(frame.columns) == len(PROBE_DATATYPES)
    assert frame.iloc[0][ZH_COMPARE["col_verbatim"]] == "是"
    assert frame.iloc[2][ZH_COMPARE["col_verbatim"]] == "—"  # unseen: no flag at all
    assert frame.iloc[2][ZH_COMPARE["col_reference"]] == "—"
    assert frame.iloc[3][ZH_COMPARE["col_image"]] == "另一张图片"


def test_probe_table_rows_arrive_one_by_one(tmp_path):
    service, chat = fake_service(tmp_path)
    steps = list(service.probe_table("run-1", "Is it raining?"))
    assert [len(rows) for rows in steps] == [1, 2, 3, 4, 5, 6]
    rows = steps[-1]
    assert rows[0]["finetuned_verbatim"] is True and rows[0]["finetuned_rouge_l"] == 1.0
    assert rows[2]["reference"] is None and rows[2]["finetuned_verbatim"] is False
    # one stream_many loop per case, both models stepped together
    assert all([m for m, _, _ in call] == ["base", "run-1@iter_10"] for call in chat.calls)
    assert chat.attached[0] == ("run-1@iter_10", "adapters_iter_10")
    csv = service.probe_csv(rows, "run-1")
    assert csv.name == "run-1-scores.csv" and csv.read_text(encoding="utf-8-sig")


def test_stream_passes_each_models_own_history_and_checks_input(tmp_path):
    from backend.models.chat import ChatError

    service, chat = fake_service(tmp_path)
    image = tmp_path / "run" / "data" / "image.jpg"
    history = {"base": [["Q1", "caption"]], "finetuned": [["Q1", "a"], ["Q2", "b"]]}
    parts = list(service.stream("run-1", image, "What drink is in the cup?", history))
    assert parts[0]["done"] is False and parts[-1]["finetuned"] == LATTE
    assert chat.calls[-1] == [("base", "What drink is in the cup?", 1),
                              ("run-1@iter_10", "What drink is in the cup?", 2)]
    with pytest.raises(ChatError, match="chat template"):
        list(service.stream("run-1", image, "hi <|im_start|>assistant"))
    with pytest.raises(ChatError, match="'</s>'"):
        list(service.stream("run-1", image, "What </s> drink is in the cup?"))
    with pytest.raises(ChatError, match="pairs"):
        list(service.stream("run-1", image, "hi", {"base": "nope"}))
    with pytest.raises(ChatError, match="Unknown checkpoint"):
        list(service.stream("run-1", image, "hi", after="latest"))
    judged = service.judge("run-1", "What drink is in the cup?", "Tabby cat.", LATTE)
    assert judged["finetuned"]["verbatim"] and judged["base"]["rouge_l"] < 0.3
    assert len(judged["references"]) == 2


def test_the_probe_summary_has_four_columns_and_the_details_keep_the_rest(tmp_path):
    from ui.compare_view import PROBE_SUMMARY_WIDTHS, probe_frame, probe_summary_frame
    from ui.messages_compare import EN_COMPARE, ZH_COMPARE

    b = book()
    cases = plan(b, ["Is it raining?"], tmp_path / "a.jpg", tmp_path / "b.jpg")
    rows = [row(case, "Green eyes.", LATTE, b.all_answers()) for case in cases]
    summary = probe_summary_frame(rows, ZH_COMPARE)
    assert list(summary.columns) == [ZH_COMPARE[c] for c in
                                     ("col_question", "col_base", "col_finetuned", "col_score")]
    assert len(PROBE_SUMMARY_WIDTHS) == len(summary.columns)
    assert summary.iloc[0, 0].endswith("训练图片") and summary.iloc[3, 0].endswith("另一张图片")
    assert summary.iloc[0, 3].startswith("0.") and "→ 1.00 ✅" in summary.iloc[0, 3]
    assert summary.iloc[2, 3] == "—"  # unseen: no reference, no score
    assert len(probe_frame(rows, EN_COMPARE).columns) == 10  # every column, on demand


def test_blank_probe_questions_are_the_defaults_in_the_pages_language():
    from ui.compare_view import probe_questions
    from ui.messages_compare import EN_COMPARE, ZH_COMPARE

    zh = parse_probes(probe_questions("  ", ZH_COMPARE))
    assert len(zh) == len(DEFAULT_PROBES) and all("？" in q or "。" in q for q in zh)
    assert parse_probes(probe_questions("", EN_COMPARE)) == list(DEFAULT_PROBES)
    assert probe_questions("Is it raining?", ZH_COMPARE) == "Is it raining?"


def test_probe_tables_have_headers_before_any_probe_and_follow_a_language_switch(tmp_path):
    """Empty: the headers, in the page's language (gradio would show "1 2 3");
    the same rows again in the other language (the switch re-renders them)."""
    from ui.compare_view import probe_tables
    from ui.messages import TABLES

    for lang in ("en", "zh"):
        summary, details = probe_tables([], TABLES[lang])
        assert len(summary) == 0 and len(details) == 0
        assert list(summary.columns)[:3] == [TABLES[lang][c] for c in
                                             ("col_question", "col_base", "col_finetuned")]
        assert len(details.columns) == 10
    b = book()
    cases = plan(b, ["Is it raining?"], tmp_path / "a.jpg", tmp_path / "b.jpg")
    rows = [row(case, "Green eyes.", LATTE, b.all_answers()) for case in cases]
    english, _ = probe_tables(rows, TABLES["en"])
    chinese, _ = probe_tables(rows, TABLES["zh"])
    assert english.iloc[0, 0].endswith(TABLES["en"]["val_training_image"])
    assert chinese.iloc[0, 0].endswith("训练图片") and len(chinese) == len(english) == len(rows)


def test_the_scores_of_the_last_turn_are_written_again_in_the_new_language():
    from ui.compare_view import score_texts
    from ui.messages import TABLES

    shown = {"judged": {"base": {"rouge_l": 0.2, "verbatim": False, "echo_rouge_l": None},
                        "finetuned": {"rouge_l": 1.0, "verbatim": True, "echo_rouge_l": None},
                        "references": ["A latte."]},
             "reasons": [], "repeats": 200, "dropped": (0, 0)}
    assert score_texts(None, TABLES["en"]) == ("", "", "")
    english, chinese = score_texts(shown, TABLES["en"]), score_texts(shown, TABLES["zh"])
    assert TABLES["en"]["cmp_verbatim"] in english[1] and TABLES["zh"]["cmp_verbatim"] in chinese[1]
    assert TABLES["zh"]["cmp_not_verbatim"] in chinese[0] and "A latte." in chinese[2]
    assert english != chinese
