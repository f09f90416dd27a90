"""Streaming decode with a byte-level tokenizer that splits multi-byte characters:
no U+FFFD ever comes out, incomplete characters wait, broken bytes are dropped."""
from types import SimpleNamespace

import pytest

from backend.compare.answer_notes import LESSON_REPEATS, noise_reasons, repeats_of_run, run_repeats
from backend.models.chat import ChatModels
from backend.models.demo.tokenizer import build_tokenizer
from backend.models.readable_text import REPLACEMENT, dropped_of, readable


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    # Trained on English only: every Chinese character is three byte tokens.
    corpus = ["A yellow star on a purple background.", "What is drawn here?"] * 20
    return build_tokenizer(tmp_path_factory.mktemp("tok"), corpus)


def byte_token(tokenizer, value: int) -> int:
    """The id of the token that is exactly one byte (GPT-2's byte alphabet)."""
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    return tokenizer.convert_tokens_to_ids(bytes_to_unicode()[value])


def streamed(tokenizer, ids: list[int]) -> list[str]:
    """What ChatModels shows after each generated token (the last one finished)."""
    chat = object.__new__(ChatModels)
    chat.tokenizer = tokenizer
    return [chat._decode({"ids": ids[:n], "done": n == len(ids)})
            for n in range(1, len(ids) + 1)]


def test_a_character_split_across_tokens_waits_for_its_last_byte(tokenizer):
    ids = tokenizer.encode("star 在停", add_special_tokens=False)
    assert len(ids) >= 8  # 在 and 停 are three tokens each here
    # The raw decode of a prefix shows U+FFFD: what the page used to get.
    assert any(REPLACEMENT in tokenizer.decode(ids[:n]) for n in range(1, len(ids)))
    shown = streamed(tokenizer, ids)
    assert all(REPLACEMENT not in text for text in shown)
    assert shown[-1] == "star 在停"
    assert "star 在" in shown  # shown as soon as it is whole
    # Each step only grows: nothing shown is taken back.
    assert all(b.startswith(a) for a, b in zip(shown, shown[1:]))
    assert dropped_of(shown[-1]) == 0


def test_bytes_that_form_no_character_are_dropped_and_counted(tokenizer):
    lone_continuation = byte_token(tokenizer, 0x9C)
    cut_short = tokenizer.encode("在", add_special_tokens=False)[:2]  # lead byte + one
    ids = (tokenizer.encode("star", add_special_tokens=False) + [lone_continuation]
           + tokenizer.encode(" on", add_special_tokens=False) + cut_short)
    shown = streamed(tokenizer, ids)
    assert all(REPLACEMENT not in text for text in shown)
    assert shown[-1] == "star on"
    assert dropped_of(shown[-1]) == 2  # the lone byte, and the character cut off at the end
    # While it streamed, the unfinished character at the end was held back, not counted.
    assert dropped_of(shown[-2]) == 1


def test_readable_is_a_plain_string_to_everyone_else():
    answer = readable("ok\ufffd", finished=True)
    assert answer == "ok" and isinstance(answer, str) and answer.dropped == 1
    assert readable("ok\ufffd", finished=False).dropped == 0


def test_noise_reasons(tmp_path):
    assert noise_reasons(trained_question=False, repeats=200, demo_models=True) == [
        "note_unseen_demo"]
    assert noise_reasons(trained_question=False, repeats=200, demo_models=False) == []
    assert noise_reasons(trained_question=True, repeats=50, demo_models=True) == [
        "note_few_repeats"]
    assert noise_reasons(True, LESSON_REPEATS, True) == []
    data = tmp_path / "data"
    data.mkdir()
    (data / "unique_data.json").write_text('[{"id": 1}, {"id": 2}]')
    (data / "repeated_data.json").write_text(str([{"id": 1}, {"id": 2}] * 50).replace("'", '"'))
    assert run_repeats(tmp_path) == 50
    assert run_repeats(tmp_path / "missing") is None
    # Through the dataset's meta when it still exists, else the run's copy.
    jobs = SimpleNamespace(registry=SimpleNamespace(get=lambda _r: {"dataset_id": "ds-1"}),
                           run_dir=lambda _r: tmp_path)
    kept = SimpleNamespace(get=lambda _d: SimpleNamespace(repeats=120))

    def deleted(_d):
        raise KeyError("Unknown dataset id")

    assert repeats_of_run(jobs, kept, "run-1") == 120
    assert repeats_of_run(jobs, SimpleNamespace(get=deleted), "run-1") == 50


def test_the_page_says_why_in_the_pages_language():
    from ui.compare_view import answer_note, noise_line
    from ui.messages import TABLES

    zh, en = TABLES["zh"], TABLES["en"]
    assert answer_note("ROUGE-L 0.1", 0, zh) == "ROUGE-L 0.1"
    assert "2 段" in answer_note("ROUGE-L 0.1", 2, zh)
    line = noise_line(["note_unseen_demo", "note_few_repeats"], 50, en)
    assert line.count("\n") == 2 and "random weights" in line and "50 times" in line
    assert line.count("Why this may be noise") == 1
    assert noise_line([], 50, en) == ""
