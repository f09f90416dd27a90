"""Through the real app on the demo models: the tokenizer's special tokens are
refused in Q&A and compare questions, a long compare history is cut to what
fits and says so, a question over the limit is refused (slow: the session's
shared demo run, tests/support/trained_app.py)."""
import json

import pytest
from gradio_client import handle_file

from tests.support.compare import long_history
from tests.support.images import QA


def refused(call) -> str:
    with pytest.raises(Exception) as caught:
        call()
    return str(caught.value)


@pytest.mark.slow
@pytest.mark.processes
def test_special_tokens_and_compare_history_through_the_app(trained_demo):
    client, run, image = trained_demo["client"], trained_demo["run_id"], trained_demo["image"]
    datasets = trained_demo["root"] / "work" / "datasets"
    written = sorted(datasets.iterdir())
    for token in ("</s>", "<s>", "<unk>"):
        qa = [{"question": f"What {token} shape is drawn?", "answer": "A star."}]
        message = refused(lambda: client.predict(handle_file(str(image)), json.dumps(qa), 2,
                                                 api_name="/build_dataset"))
        assert f"contains '{token}'" in message, message
    assert sorted(datasets.iterdir()) == written  # no new dataset folder

    message = refused(lambda: client.predict(
        run, handle_file(str(image)), "What </s> shape is drawn?", api_name="/compare"))
    assert "contains '</s>'" in message, message

    history = [list(turn) for turn in long_history(10)]
    final = client.predict(run, handle_file(str(image)), QA[0]["question"],
                           json.dumps({"base": history, "finetuned": history}), "",
                           api_name="/compare_chat")
    assert final["done"] and final["dropped_turns"] > 4
    assert isinstance(final["finetuned"], str) and isinstance(final["base"], str)
    assert len(final["history"]["finetuned"]) == 11  # the client's own record is whole

    message = refused(lambda: client.predict(
        run, handle_file(str(image)), "请描述这张照片里的星星" * 80, "", "",
        api_name="/compare_chat"))
    assert "Shorten the question" in message, message
