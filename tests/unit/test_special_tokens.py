"""The model tokenizer's own special tokens are refused in Q&A and compare
questions, read from the tokenizer (the demo's byte-level BPE), not a list."""
import json

import pytest
from PIL import Image

from backend.data import dataset
from backend.models.chat import ChatError, ChatModels
from backend.compare.service import CompareService
from backend.data.store import DatasetStore
from backend.models.demo.tokenizer import build_tokenizer
from backend.models.paths import ModelPaths
from backend.data.special_tokens import special_tokens_at

MODEL_TOKENS = ("</s>", "<s>", "<unk>")


@pytest.fixture(scope="module")
def llm_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llm")
    build_tokenizer(folder, ["What drink is in the cup? A latte.", "请描述这张照片"] * 20)
    return folder


def test_the_tokenizers_special_tokens_are_read_from_it(llm_folder, tmp_path):
    assert {*MODEL_TOKENS, "<|im_start|>", "<|im_end|>"} <= special_tokens_at(llm_folder)
    # Another tokenizer, another list: a token it adds is refused too.
    from transformers import AutoTokenizer

    other = tmp_path / "other"
    tokenizer = AutoTokenizer.from_pretrained(str(llm_folder))
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|tool|>"]})
    tokenizer.save_pretrained(str(other))
    assert "<|tool|>" in special_tokens_at(other)
    assert "<|tool|>" not in special_tokens_at(llm_folder)


@pytest.mark.parametrize("token", MODEL_TOKENS)
@pytest.mark.parametrize("role", ["question", "answer"])
def test_qa_with_a_model_token_is_refused_and_nothing_written(llm_folder, tmp_path, token,
                                                             role):
    image = tmp_path / "cup.png"
    Image.new("RGB", (32, 32), "white").save(image)
    row = {"question": "What drink is in the cup?", "answer": "A latte."}
    row[role] = row[role].replace(" ", f" {token} ", 1)
    conversations = dataset.parse_qa_json(json.dumps([row]))  # the template's rule passes
    store = DatasetStore(tmp_path / "work", model_tokens=lambda: special_tokens_at(llm_folder))
    with pytest.raises(dataset.DatasetError) as refused:
        store.create(image, conversations, repeats=2)
    assert f"Conversation 1, turn 1: the {role} contains '{token}'" in str(refused.value)
    assert list(store.root.iterdir()) == []
    # The same text without the token builds.
    clean = dataset.parse_qa_json(json.dumps([{"question": "What drink is in the cup?",
                                               "answer": "A latte."}]))
    assert store.create(image, clean, repeats=2).samples == 2


def compare_service(llm_folder, tmp_path) -> CompareService:
    chat = ChatModels(ModelPaths(llm_folder, tmp_path / "clip", tmp_path / "iter_2181.pth"))
    return CompareService(lambda: chat, jobs=None, scratch=tmp_path / "scratch")


@pytest.mark.parametrize("token", MODEL_TOKENS)
def test_compare_question_with_a_model_token_is_refused(llm_folder, tmp_path, token):
    service = compare_service(llm_folder, tmp_path)
    with pytest.raises(ChatError, match=f"The question contains '{token}'"):
        next(service.stream("run-x", tmp_path / "none.jpg", f"What {token} drink is in the cup?"))


def test_compare_history_with_a_model_token_is_refused(llm_folder, tmp_path):
    service = compare_service(llm_folder, tmp_path)
    image = tmp_path / "cup.png"
    Image.new("RGB", (32, 32), "white").save(image)
    history = {"base": [["What is it?", "A cup <unk> of latte."]]}
    with pytest.raises(ChatError, match="The history contains '<unk>'"):
        next(service.stream("run-x", image, "And the drink?", history))


@pytest.mark.parametrize("token", MODEL_TOKENS + ("<|im_end|>",))
def test_probe_questions_follow_the_same_rule(llm_folder, tmp_path, token):
    from backend.compare.probes import ProbeError, parse_probes

    with pytest.raises(ProbeError, match=f"A probe question contains '{token}'"):
        parse_probes(f"Is it sunny?\nIs it {token} raining?", special_tokens_at(llm_folder))
    service = compare_service(llm_folder, tmp_path)
    with pytest.raises(ProbeError):
        next(service.probe_table("run-x", f"Is it {token} raining?"))
