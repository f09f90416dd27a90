"""The one guard: user errors become gr.Error in the page's language, worded by the
handler's sentence, titled in that language; anything else stays a bug."""
import gradio as gr
import pytest

from backend.runs.jobs import JobError
from tests.support.requests import request_in
from ui.guard import guarded, worded
from ui.messages import tr


def stop(run_id, request: gr.Request):
    raise JobError(f"{run_id} is not running")


@pytest.mark.parametrize("language,lang", [("zh-CN,zh;q=0.9", "zh"), ("en-US", "en")])
def test_a_refusal_is_worded_and_titled_in_the_pages_language(language, lang):
    handler = guarded(stop, message=worded("err_run"))
    with pytest.raises(gr.Error) as caught:
        handler("run-1", request_in(language))
    assert caught.value.message == tr("err_run", lang, error="run-1 is not running")
    assert caught.value.title == tr("toast_error", lang)


def test_a_bug_is_not_dressed_as_a_user_error():
    def broken(run_id, request: gr.Request):
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        guarded(broken, message=worded("err_run"))("run-1", request_in("en"))


def test_the_signature_gradio_reads_is_the_handlers():
    import inspect

    assert list(inspect.signature(guarded(stop)).parameters) == ["run_id", "request"]
