"""The evaluation timeline: what the hook writes and how it is read back (no models)."""
import json
import os
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from backend.xtuner.trainer_side.hooks import QuestionsFileEvaluateChatHook
from backend.compare.timeline import (TimelineError, changes, checkpoints, convert_checkpoint,
                              converted_dir, parse_txt, read_timeline)

PROMPT = "<|im_start|>user\n<image>\n{q}<|im_end|>\n<|im_start|>assistant\n"
QUESTIONS = ["What is in the cup?", "Which color?"]


def write_json(train: Path, stamp: str, iteration: int, answers: list[str]) -> None:
    folder = train / stamp / "vis_data"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"eval_outputs_iter_{iteration}.json").write_text(json.dumps(
        {"format": 1, "iter": iteration, "questions": QUESTIONS, "answers": answers}))


def xtuner_txt(answers: list[str]) -> str:
    # xtuner 0.2.0's _save_eval_output format: prompt + generation per entry.
    return "".join(f"Eval output {i + 1}:\n{PROMPT.format(q=q)}{a}<|im_end|>\n\n\n"
                   for i, (q, a) in enumerate(zip(QUESTIONS, answers)))


def test_parse_xtuner_text_file():
    questions, answers = parse_txt(xtuner_txt(["A latte.", "White\nwith a red rim."]))
    assert questions == QUESTIONS
    assert answers == ["A latte.", "White\nwith a red rim."]


def test_one_entry_per_evaluation_in_order_newest_folder_wins(tmp_path):
    train = tmp_path / "train"
    for iteration in (0, 50, 100, 150):
        write_json(train, "20250101_000000", iteration, [f"a{iteration}", "b"])
    # Resumed run: a later folder re-evaluates 150 and goes on.
    write_json(train, "20250102_000000", 150, ["resumed", "b"])
    write_json(train, "20250102_000000", 200, ["final", "b"])
    (train / "20250101_000000" / "vis_data" / "eval_outputs_iter_100.txt").write_text(
        xtuner_txt(["from txt", "b"]))
    (train / "20250101_000000" / "vis_data" / "eval_outputs_iter_100.json.tmp").write_text("{")
    (train / "iter_150.pth").write_bytes(b"x")
    (train / "iter_200.pth").write_bytes(b"x")
    entries = read_timeline(train)
    assert [e.iter for e in entries] == [0, 50, 100, 150, 200]
    assert all(e.questions == QUESTIONS for e in entries)
    assert entries[2].answers[0] == "a100"  # JSON beats xtuner's text file
    assert entries[3].answers[0] == "resumed"
    assert [e.checkpoint for e in entries] == [False, False, False, True, True]
    assert entries[0].as_dict()["answers"][0] == {"question": QUESTIONS[0], "answer": "a0"}


def test_text_files_alone_still_make_a_timeline(tmp_path):
    folder = tmp_path / "train" / "20250101_000000" / "vis_data"
    folder.mkdir(parents=True)
    (folder / "eval_outputs_iter_499.txt").write_text(xtuner_txt(["x", "y"]))
    (folder / "eval_outputs_iter_abc.txt").write_text("ignored")
    entries = read_timeline(tmp_path / "train")
    assert [(e.iter, e.answers) for e in entries] == [(499, ["x", "y"])]


def test_half_written_json_is_skipped(tmp_path):
    folder = tmp_path / "train" / "s" / "vis_data"
    folder.mkdir(parents=True)
    (folder / "eval_outputs_iter_5.json").write_text('{"iter": 5, "quest')
    assert read_timeline(tmp_path / "train") == []


def test_changes_keep_only_the_iterations_where_an_answer_changed(tmp_path):
    train = tmp_path / "train"
    for iteration, answer in ((0, "caption"), (50, "caption"), (100, "latte"), (150, "latte")):
        write_json(train, "s", iteration, [answer, "white"])
    summary = changes(read_timeline(train))
    assert summary[0] == {"question": QUESTIONS[0], "changes": [
        {"iter": 0, "answer": "caption"}, {"iter": 100, "answer": "latte"}]}
    assert summary[1]["changes"] == [{"iter": 0, "answer": "white"}]


def test_checkpoints_sorted_by_number(tmp_path):
    for name in ("iter_100.pth", "iter_20.pth", "iter_x.pth", "last_checkpoint"):
        (tmp_path / name).write_bytes(b"")
    assert checkpoints(tmp_path) == [20, 100]


# ---- the hook's own output -----------------------------------------------------
def bare_hook(tmp_path) -> QuestionsFileEvaluateChatHook:
    # No tokenizer/model: only the bookkeeping that writes the timeline.
    hook = object.__new__(QuestionsFileEvaluateChatHook)
    hook.evaluation_inputs = QUESTIONS
    hook.system = ""
    hook.instruction = "<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n"
    hook._stop_texts = ["<|im_end|>", "</s>"]
    hook._finished_iters = 0
    return hook


def test_hook_writes_json_and_xtuner_text_named_by_finished_iterations(tmp_path):
    hook = bare_hook(tmp_path)
    runner = SimpleNamespace(rank=0, log_dir=str(tmp_path / "stamp"), cfg={}, iter=49)
    hook._finished_iters = runner.iter + 1
    outputs = [PROMPT.format(q=q) + a + "<|im_end|>\n" for q, a in
               zip(QUESTIONS, ["A latte.", "White."])]
    hook._save_eval_output(runner, outputs)
    entries = read_timeline(tmp_path)
    assert [(e.iter, e.questions, e.answers) for e in entries] == [
        (50, QUESTIONS, ["A latte.", "White."])]
    text = (tmp_path / "stamp" / "vis_data" / "eval_outputs_iter_50.txt").read_text()
    assert parse_txt(text) == (QUESTIONS, ["A latte.", "White."])


def test_hook_reads_questions_from_a_file_only_as_a_list_of_strings(tmp_path):
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps({"q": "not a list"}))
    with pytest.raises(ValueError, match="JSON list of strings"):
        QuestionsFileEvaluateChatHook(str(bad), tokenizer=None)


# ---- converting a checkpoint on demand ---------------------------------------------
FAKE_PYTHON = f"""#!{sys.executable}
# Stands in for `python -m xtuner.tools.model_converters.pth_to_hf CFG PTH OUT --fp32`.
import sys, pathlib
_, _, _, cfg, pth, out, *_ = sys.argv
if "fail" in pth:
    sys.exit("RuntimeError: bad checkpoint")
for part in ("projector", "llm_adapter"):
    (pathlib.Path(out) / part).mkdir(parents=True, exist_ok=True)
print("converted", pth)
"""


def fake_python(tmp_path) -> str:
    path = tmp_path / "fake_python"
    path.write_text(FAKE_PYTHON)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.processes
def test_convert_checkpoint_once_into_the_run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "train").mkdir(parents=True)
    (run / "train" / "iter_50.pth").write_bytes(b"x")
    python = fake_python(tmp_path)
    folder = convert_checkpoint(run, 50, python, {})
    assert folder == converted_dir(run, 50) and (folder / "projector").is_dir()
    assert "converted" in (run / "convert_iter_50.log").read_text()
    os.remove(python)  # a second call must not run the converter again
    assert convert_checkpoint(run, 50, python, {}) == folder


@pytest.mark.processes
def test_convert_checkpoint_explains_missing_and_failing(tmp_path):
    run = tmp_path / "run"
    (run / "train").mkdir(parents=True)
    (run / "train" / "iter_10.pth").write_bytes(b"x")
    with pytest.raises(TimelineError, match="saved checkpoints: iter_10"):
        convert_checkpoint(run, 99, fake_python(tmp_path), {})
    # The fake fails on any checkpoint path containing "fail".
    run2 = tmp_path / "fail-run"
    (run2 / "train").mkdir(parents=True)
    (run2 / "train" / "iter_3.pth").write_bytes(b"x")
    with pytest.raises(TimelineError, match="exited with code 1"):
        convert_checkpoint(run2, 3, fake_python(tmp_path), {})
    assert not converted_dir(run2, 3).exists()
    assert not list(run2.glob(".hf_iter_3.partial"))


def test_timeline_table_marks_unchanged_answers(tmp_path):
    from ui.compare_view import timeline_frame
    from ui.messages_compare import EN_COMPARE

    train = tmp_path / "train"
    for iteration, answer in ((0, "caption"), (50, "caption"), (100, "latte")):
        write_json(train, "s", iteration, [answer, "white"])
    (train / "iter_100.pth").write_bytes(b"x")
    frame = timeline_frame([e.as_dict() for e in read_timeline(train)], EN_COMPARE)
    assert list(frame.columns) == ["iteration"] + QUESTIONS
    assert frame[QUESTIONS[0]].tolist() == ["caption", "〃", "latte"]
    assert frame["iteration"].tolist() == ["iter_0", "iter_50", "iter_100 💾"]


@pytest.mark.processes
def test_a_deepspeed_checkpoint_folder_goes_to_pth_to_hf_not_reported_missing(tmp_path):
    (tmp_path / "train" / "iter_5.pth").mkdir(parents=True)  # DeepSpeed saves a folder
    with pytest.raises(TimelineError) as caught:  # /bin/true converts nothing
        convert_checkpoint(tmp_path, 5, python="/bin/true", env={})
    assert "not on disk" not in str(caught.value)
    assert "exited with code 0" in str(caught.value)


# ---- stop and resume: every evaluation at its true iteration ------------------------
def test_a_resumed_launch_evaluates_at_its_checkpoint_not_at_iteration_0(tmp_path):
    train = tmp_path / "train"
    write_json(train, "20250101_000000", 0, ["pretrain caption", "b"])
    write_json(train, "20250101_000000", 100, ["a100", "b"])
    # The resumed launch: mmengine has loaded iter_125.pth before before_train.
    hook = bare_hook(tmp_path)
    runner = SimpleNamespace(rank=0, log_dir=str(train / "20250102_000000"), cfg={}, iter=125,
                             logger=SimpleNamespace(info=lambda *_: None))
    outputs = [PROMPT.format(q=q) + "resumed<|im_end|>" for q in QUESTIONS]
    # The generation itself needs a model; only the bookkeeping is under test.
    hook._generate_samples = lambda runner_, *a, **k: hook._save_eval_output(runner_, outputs)
    hook.before_train(runner)
    entries = read_timeline(train)
    assert [e.iter for e in entries] == [0, 100, 125]
    assert entries[0].answers[0] == "pretrain caption"
    assert entries[2].answers == ["resumed", "resumed"]
    assert not (train / "20250102_000000" / "vis_data" / "eval_outputs_iter_0.json").exists()


def test_iteration_0_of_the_first_launch_survives_an_older_resume_bug(tmp_path):
    # Runs resumed before the fix hold a second "iteration 0" in a later folder.
    train = tmp_path / "train"
    write_json(train, "20250101_000000", 0, ["pretrain caption", "b"])
    write_json(train, "20250102_000000", 0, ["after 125 iterations", "b"])
    write_json(train, "20250102_000000", 150, ["final", "b"])
    entries = read_timeline(train)
    assert [(e.iter, e.answers[0]) for e in entries] == [(0, "pretrain caption"),
                                                         (150, "final")]


def test_timeline_answers_never_carry_a_replacement_character(tmp_path):
    write_json(tmp_path / "train", "s", 0, ["在\ufffd停\ufffd", "b"])
    assert read_timeline(tmp_path / "train")[0].answers == ["在停", "b"]
