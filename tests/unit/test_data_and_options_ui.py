"""Data tab and Advanced options: an unreadable image explained, the table's two
fixed columns, the next-step hints, the options form merged with the JSON box."""
import json
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.data_classes import ImageData

from backend.xtuner.config import TrainOptions
from ui.checked_image import checked_image
from ui.data_tab import build_data_tab, check_image, describe
from ui.options_form import build_options_form, merged_options
from ui.train_tab import status_markdown


def request(lang: str):
    # What ui.language reads: the switch's cookie.
    return SimpleNamespace(cookies={"studio_lang": lang}, headers={}, username=None)


@pytest.fixture
def corrupt(tmp_path):
    path = tmp_path / "drawing.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    return path


def test_an_unreadable_image_reaches_our_handler_and_is_explained(corrupt, monkeypatch):
    with gr.Blocks():
        image = checked_image(type="filepath")
    # gr.Image itself fails inside gradio, before any handler could explain.
    with pytest.raises(OSError):
        gr.Image(type="filepath").preprocess(ImageData(path=str(corrupt),
                                                       orig_name="drawing.png"))
    path = image.preprocess(ImageData(path=str(corrupt), orig_name="drawing.png"))
    assert path == str(corrupt)
    warned = []
    monkeypatch.setattr(gr, "Warning", lambda message, **kw: warned.append((message, kw)))
    cleared, note = check_image(path, request("zh-CN"))
    assert cleared is None and "无法作为图片读取" in note
    assert warned and warned[0][1]["title"] == "注意"


def test_a_good_image_passes_quietly(tmp_path):
    from PIL import Image

    good = tmp_path / "ok.png"
    Image.new("RGB", (8, 8), "red").save(good)
    kept, note = check_image(str(good), request("en"))
    assert note == ""


def test_the_qa_table_has_exactly_two_fixed_columns():
    with gr.Blocks():
        tab = build_data_tab()
    assert tuple(tab.table.get_config()["col_count"]) == (2, "fixed")


def test_next_step_hints():
    stored = SimpleNamespace(conversations=3, repeats=200, samples=600, dataset_id="ds-1")
    built = describe(stored, {"iterations": 600, "batch_size": 1, "epochs": 1}, "en")
    assert "Next:" in built and "2 · Finetune" in built and "Only" not in built
    few = describe(dict_to(stored, repeats=50), {"iterations": 150, "batch_size": 1,
                                                 "epochs": 1}, "zh")
    assert "只重复了 50 次" in few and "下一步" in few
    done = {"state": "done", "phase": None, "iter": 6, "max_iters": 6, "elapsed_s": 60,
            "eta_s": None, "loss": 0.1, "queue_position": None, "error": ""}
    assert "3 · Compare" in status_markdown(done, "en")
    assert "3 · Compare" not in status_markdown(dict(done, state="running"), "en")


def dict_to(namespace, **changes):
    return SimpleNamespace(**{**vars(namespace), **changes})


def test_the_options_form_shows_limits_and_merges_under_the_json_box():
    with gr.Blocks():
        form = build_options_form(TrainOptions(max_length=256))
    infos = [field.get_config()["info"] for field in form.fields]
    assert infos == ["1 – 20", "1e-07 – 1", "1 – 1024", "64 – 8192"]
    assert [field.value for field in form.fields] == [1, 2e-4, 512, 256]
    merged = json.loads(merged_options([2, 1e-4, 64, 256], "{}"))
    assert merged == {"epochs": 2, "lr": 1e-4, "llm_lora_r": 64, "max_length": 256}
    # A key typed in the JSON box wins; other JSON keys pass through.
    merged = json.loads(merged_options([2, 1e-4, 64, 256], '{"epochs": 3, "seed": 7}'))
    assert merged["epochs"] == 3 and merged["seed"] == 7 and merged["lr"] == 1e-4
    # Broken JSON is passed on untouched for the start to explain.
    assert merged_options([1, 2e-4, 512, 256], "{oops") == "{oops"


def test_the_next_step_hints_name_the_tabs_as_the_page_shows_them():
    from ui.messages import tr

    for lang in ("en", "zh"):
        assert f"**{tr('tab_train', lang)}**" in tr("next_finetune", lang)
        assert f"**{tr('tab_compare', lang)}**" in tr("next_compare", lang)


def test_a_single_click_edits_only_the_qa_table():
    from ui.data_tab import SINGLE_CLICK_EDIT_JS, TABLE_ID

    assert f"#{TABLE_ID} .body-cell" in SINGLE_CLICK_EDIT_JS
    assert "dblclick" in SINGLE_CLICK_EDIT_JS and ".cell-menu-button" in SINGLE_CLICK_EDIT_JS


def test_a_language_switch_says_the_built_datasets_summary_again_to_its_reader_only():
    from ui.data_tab import summary_again
    from ui.messages import tr

    stored = SimpleNamespace(conversations=3, repeats=200, samples=600, dataset_id="ds-1")

    def check_dataset(user, dataset_id):
        if user != "ana":
            raise PermissionError("not theirs")

    services = SimpleNamespace(
        access=SimpleNamespace(check_dataset=check_dataset),
        datasets=SimpleNamespace(get=lambda dataset_id: stored),
        training=SimpleNamespace(schedule=lambda samples: {"iterations": samples,
                                                            "batch_size": 1, "epochs": 1}))
    chinese, english = (summary_again(services, "ds-1", lang, "ana") for lang in ("zh", "en"))
    assert tr("next_finetune", "zh") in chinese and tr("next_finetune", "en") in english
    assert "600" in chinese and chinese != english
    for refused in (summary_again(services, "ds-1", "en", "ben"),
                    summary_again(services, "", "en", "ana")):
        assert isinstance(refused, type(gr.skip()))
