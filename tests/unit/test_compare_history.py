"""A long compare history is cut to what fits: at most MAX_TURNS, the oldest
turns first, within the model's context; a question that does not fit alone
is refused. Counted with the demo's real tokenizer and model configs."""
import json

import pytest

from backend.models import chat_budget
from backend.models.chat import ChatModels, prompt_ids
from backend.models.chat_budget import MAX_TURNS, PromptTooLong, fit_history
from backend.compare.service import CompareService
from backend.models.demo.tokenizer import build_tokenizer
from backend.models.paths import ModelPaths
from backend.data.special_tokens import tokenizer_at
from tests.support.compare import ANSWER, fake_service, long_history  # noqa: F401

POSITIONS = 512  # the demo LLM's max_position_embeddings
@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    build_tokenizer(root / "llm", [ANSWER, "What drink is in the cup?", "请描述这张照片"] * 20)
    (root / "llm" / "config.json").write_text(json.dumps(
        {"model_type": "internlm2", "max_position_embeddings": POSITIONS}))
    (root / "clip").mkdir()
    (root / "clip" / "config.json").write_text(json.dumps({"image_size": 56, "patch_size": 14}))
    return ModelPaths(root / "llm", root / "clip", root / "iter_2181.pth")


def prompt_length(paths, turns, question):
    return len(prompt_ids(tokenizer_at(str(paths.llm)), turns, question)) - 1 + 16


def test_a_long_history_keeps_the_newest_turns_that_fit(paths):
    turns = long_history(10)
    kept, dropped = fit_history(paths, turns, "And the drink?")
    budget = chat_budget.prompt_budget(POSITIONS)
    assert budget == POSITIONS - 128
    assert dropped > len(turns) - MAX_TURNS  # the context bound, not only the turn bound
    assert kept == turns[dropped:] and kept  # the oldest went first
    assert prompt_length(paths, kept, "And the drink?") <= budget
    # One more turn would not have fitted.
    assert prompt_length(paths, turns[dropped - 1:], "And the drink?") > budget


def test_short_turns_are_bounded_by_count():
    turns = [("q", "a")] * 20
    kept, dropped = chat_budget.fit_turns(turns, "q?", lambda t, q: len(t), budget=100)
    assert (len(kept), dropped) == (MAX_TURNS, 20 - MAX_TURNS)


def test_a_short_history_is_kept_whole(paths):
    turns = [("What is it?", "A cup."), ("Which drink?", "A latte.")]
    assert fit_history(paths, turns, "Hot or cold?") == (turns, 0)


def test_a_question_over_the_limit_is_refused(paths):
    question = "请描述这张照片里杯子的样子" * 70  # under 1,000 characters, far over 384 tokens
    with pytest.raises(PromptTooLong) as refused:
        fit_history(paths, [], question)
    assert refused.value.used > refused.value.budget == 384
    assert "Shorten the question" in str(refused.value)


def test_the_compare_stream_says_how_many_turns_it_left_out(paths, tmp_path):
    service, chat = fake_service(tmp_path)
    chat.fit_history = lambda turns, question: fit_history(paths, turns, question)
    image = tmp_path / "run" / "data" / "image.jpg"
    history = {"base": [list(t) for t in long_history(10)],
               "finetuned": [["What is it?", "A latte."]]}
    parts = list(service.stream("run-1", image, "What drink is in the cup?", history))
    dropped = parts[-1]["dropped_turns"]
    assert dropped > 4 and all(p["dropped_turns"] == dropped for p in parts)
    # The base model got only the turns that fit; the finetuned one its one turn.
    (_, _, base_turns), (_, _, tuned_turns) = chat.calls[-1]
    assert base_turns == 10 - dropped and tuned_turns == 1


def test_the_real_chat_models_refuse_before_loading_anything(paths, tmp_path):
    chat = ChatModels(paths)
    service = CompareService(lambda: chat, jobs=None, scratch=tmp_path / "scratch")
    with pytest.raises(PromptTooLong):
        next(service.stream("run-x", tmp_path / "none.jpg", "描述" * 400))
    assert not chat.loaded
