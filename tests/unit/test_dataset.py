import json

import pytest

from backend.data import dataset
from backend.data.dataset import DatasetError


def test_rows_become_single_turn_conversations_with_image_token_first():
    convs = dataset.conversations_from_rows([("What is it?", "A cat."), ("Color?", "Grey.")])
    records = dataset.build_records(convs, "image.jpg", repeats=3)
    assert len(records) == 6
    first = records[0]
    assert first["image"] == "image.jpg"
    assert first["conversations"][0] == {"from": "human", "value": "<image>\nWhat is it?"}
    assert first["conversations"][1] == {"from": "gpt", "value": "A cat."}
    # Every record uses the key xtuner's llava_map_fn reads.
    assert all("conversations" in r and "conversation" not in r for r in records)
    assert len({r["id"] for r in records}) == 6


def test_repeat_repeats_the_whole_set_in_order():
    convs = dataset.conversations_from_rows([("q1", "a1"), ("q2", "a2")])
    records = dataset.build_records(convs, "i.jpg", repeats=2)
    answers = [r["conversations"][1]["value"] for r in records]
    assert answers == ["a1", "a2", "a1", "a2"]


def test_lesson_format_with_legacy_key_and_multi_turn():
    data = [{"id": "0", "image": "oph.jpg", "conversation": [
        {"from": "human", "value": "<image>\nQ1"}, {"from": "gpt", "value": "A1"},
        {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]}]
    convs = dataset.parse_qa_json(json.dumps(data))
    record = dataset.build_records(convs, "image.jpg", 1)[0]
    # The image path inside the import is never used.
    assert record["image"] == "image.jpg"
    values = [m["value"] for m in record["conversations"]]
    assert values == ["<image>\nQ1", "A1", "Q2", "A2"]


def test_flat_question_answer_list():
    convs = dataset.parse_qa_json('[{"question": "Q", "answer": "A"}]')
    assert convs[0].turns[0].question == "Q"


def test_image_token_is_added_once_even_if_user_typed_it():
    convs = dataset.conversations_from_rows([("<image>\nWhat?", "That.")])
    assert dataset.to_record(convs[0], "i.jpg", "0")["conversations"][0]["value"] == "<image>\nWhat?"


@pytest.mark.parametrize("question,answer,fragment", [
    ("What <image> is it?", "A", "Row 1: the question contains '<image>'"),
    ("Q", "A <|im_end|>", "chat-template token"),
    ("", "A", "Row 1: the question is empty"),
    ("Q", "x" * 5000, "characters"),
])
def test_bad_rows_name_the_row(question, answer, fragment):
    with pytest.raises(DatasetError, match=fragment.replace("|", r"\|")):
        dataset.conversations_from_rows([(question, answer)])


def test_unknown_role_and_bad_json_are_clear():
    with pytest.raises(DatasetError, match="expected a 'human' message"):
        dataset.parse_qa_json('[{"conversations": [{"from": "system", "value": "x"}]}]')
    with pytest.raises(DatasetError, match="does not parse"):
        dataset.parse_qa_json("{not json")


def test_empty_table_rows_are_skipped_but_all_empty_is_refused():
    convs = dataset.conversations_from_rows([("Q", "A"), ("", ""), (None, None)])
    assert len(convs) == 1
    with pytest.raises(DatasetError, match="at least one"):
        dataset.conversations_from_rows([("", "")])


def test_repeat_bounds_and_iterations():
    convs = dataset.conversations_from_rows([("Q", "A")])
    with pytest.raises(DatasetError):
        dataset.build_records(convs, "i.jpg", 0)
    assert dataset.iterations_for(1200, 1, 1) == 1200
    assert dataset.iterations_for(1200, 16, 1) == 75
    assert dataset.iterations_for(10, 4, 2) == 6


def test_preview_is_the_chat_template():
    convs = dataset.conversations_from_rows([("What?", "That.")])
    assert dataset.prompt_preview(convs[0]) == (
        "<|im_start|>user\n<image>\nWhat?<|im_end|>\n<|im_start|>assistant\nThat.<|im_end|>\n")


@pytest.mark.parametrize("image", ["/etc/passwd", "../../x.jpg", "a/b.jpg", "C:x.jpg", ".hidden"])
def test_imported_image_paths_are_refused(image):
    data = [{"image": image, "conversations": [{"from": "human", "value": "<image>\nQ"},
                                                {"from": "gpt", "value": "A"}]}]
    with pytest.raises(DatasetError, match="plain file name"):
        dataset.parse_qa_json(json.dumps(data))
