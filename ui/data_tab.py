"""Tab 1: image + Q&A pairs -> the repeated dataset."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from backend.data import dataset
from backend.compare.answer_notes import few_repeats
from backend.data.images import ALLOWED_FORMATS, ImageError, open_checked
from backend.services import Services

from .auth import user_of
from .checked_image import checked_image
from .disk_view import delete_dataset_ui, usage_markdown
from .errors import user_error
from .guard import guarded, worded
from .language import language_of
from .messages import t, tr

ASSETS = Path(__file__).resolve().parent.parent / "assets"
EXAMPLE_IMAGE = ASSETS / "example.jpg"
EXAMPLE_QA = ASSETS / "example_qa.json"
TABLE_ID = "data-qa-table"
# gradio 6.17.3's Dataframe selects a cell on a click and starts editing on the first key,
# which it swallows ("Hello" became "ello"); a double click edits at once. A click on one
# of our Q&A cells is passed on as that double click, so a single click edits (issue 17).
# Run once on page load (ui/app_ui.py); the cell menu's button keeps its own click.
SINGLE_CLICK_EDIT_JS = """() => {
  document.addEventListener("click", (event) => {
    const cell = event.target.closest && event.target.closest("#%s .body-cell");
    if (!cell || event.target.closest(".cell-menu-button") || cell.querySelector("textarea")) {
      return;
    }
    cell.dispatchEvent(new MouseEvent("dblclick", {bubbles: true, cancelable: true}));
  });
}""" % TABLE_ID


@dataclass
class DataTab:
    image: gr.Image
    table: gr.Dataframe
    import_file: gr.File
    repeats: gr.Number
    load_example: gr.Button
    build: gr.Button
    summary: gr.Markdown
    preview: gr.Code
    dataset_id: gr.Textbox
    delete: gr.Button | None = None
    usage: gr.Markdown | None = None       # the user's disk use and quota
    usage_timer: gr.Timer | None = None


def build_data_tab() -> DataTab:
    with gr.Row():
        with gr.Column(scale=1):
            image = checked_image(label=t("upload_image"), type="filepath",
                                 sources=["upload", "clipboard"], height=300,
                                 elem_id="data-image")
            load_example = gr.Button(t("load_example"), variant="secondary")
        with gr.Column(scale=2):
            # Headers follow the language when the page loads (ui/app_ui.py on_load).
            # column_count (2, "fixed"): no "Add column" in the cell menu (a third
            # column broke the build); gradio 6 ignores the older col_count.
            table = gr.Dataframe(headers=table_columns("en"), column_count=(2, "fixed"),
                                 row_count=(3, "dynamic"), datatype=["str", "str"],
                                 label=t("qa_table"), interactive=True, wrap=True,
                                 elem_id=TABLE_ID)
            import_file = gr.File(label=t("import_json"), file_types=[".json"],
                                  type="filepath")
            repeats = gr.Number(label=t("repeats"), value=200, precision=0, minimum=1,
                                maximum=dataset.MAX_REPEATS)
            build = gr.Button(t("build_dataset"), variant="primary")
    summary = gr.Markdown()
    preview = gr.Code(label=t("preview"), language=None, interactive=False)
    dataset_id = gr.Textbox(label=t("dataset_id"), interactive=False)
    delete = gr.Button(t("delete_dataset"), variant="stop", size="sm", elem_id="delete-dataset")
    usage = gr.Markdown(elem_id="disk-usage")
    return DataTab(image, table, import_file, repeats, load_example, build, summary,
                   preview, dataset_id, delete=delete, usage=usage,
                   usage_timer=gr.Timer(15.0))


def table_columns(lang: str) -> list[str]:
    """The Q&A table's headers in lang (rows are read by position, never by header)."""
    return [tr("question", lang), tr("answer", lang)]


def empty_table(lang: str, rows: int = 3) -> pd.DataFrame:
    return pd.DataFrame([["", ""]] * rows, columns=table_columns(lang))


def relabel_table(table, lang: str) -> pd.DataFrame:
    """The same rows under lang's headers."""
    rows = table.values.tolist() if isinstance(table, pd.DataFrame) else list(table or [])
    return pd.DataFrame(rows, columns=table_columns(lang))


def _table_of(conversations: list[dataset.Conversation], lang: str) -> pd.DataFrame:
    rows = [(turn.question, turn.answer) for c in conversations for turn in c.turns]
    return pd.DataFrame(rows, columns=table_columns(lang))


def load_example(request: gr.Request):
    conversations = dataset.parse_qa_json(EXAMPLE_QA.read_text(encoding="utf-8"))
    return str(EXAMPLE_IMAGE), _table_of(conversations, language_of(request))


def import_json(path: str | None, request: gr.Request):
    if not path:
        return gr.skip()
    # A file that does not parse (DatasetError, UnicodeDecodeError) is worded by the guard.
    text = Path(path).read_text(encoding="utf-8")
    return _table_of(dataset.parse_qa_json(text), language_of(request))


def build_dataset_ui(services: Services, image: str | None, table, repeats, lang: str = "en",
                     owner: str = ""):
    if not image:
        raise user_error(tr("err_need_image", lang), lang)
    rows = table.values.tolist() if isinstance(table, pd.DataFrame) else list(table or [])
    # A refusal (DatasetError, ImageError, a full disk…) is worded by the guard.
    conversations = dataset.conversations_from_rows([tuple(r) for r in rows])
    stored = services.datasets.create(image, conversations, int(repeats or 0), owner=owner)
    return describe(stored, services.training.schedule(stored.samples), lang), \
        dataset.prompt_preview(conversations[0]), stored.dataset_id


def describe(stored, schedule: dict, lang: str = "en") -> str:
    """``schedule``: TrainingService.schedule (this machine's recipe and GPUs)."""
    text = tr("dataset_built", lang, conversations=stored.conversations,
              repeats=stored.repeats, samples=stored.samples, dataset_id=stored.dataset_id,
              **schedule)
    if few_repeats(stored.repeats):
        text += "\n\n" + tr("warn_few_repeats", lang, repeats=stored.repeats)
    return text + "\n\n" + tr("next_finetune", lang)


def summary_again(services: Services, dataset_id: str, lang: str, user: str | None):
    """The built dataset's summary in ``lang`` (a language switch), when the
    page shows one the visitor may read; else left as it is."""
    if not dataset_id:
        return gr.skip()
    try:
        services.access.check_dataset(user, dataset_id)
        stored = services.datasets.get(dataset_id)
    except Exception:  # deleted meanwhile, or not theirs: nothing to say again
        return gr.skip()
    return describe(stored, services.training.schedule(stored.samples), lang)


def check_image(path: str | None, request: gr.Request):
    """On upload: an unreadable file is explained at once and removed."""
    if not path:
        return gr.skip(), gr.skip()
    try:
        open_checked(path).close()
    except ImageError:
        lang = language_of(request)
        message = tr("err_image_unreadable", lang, formats=", ".join(ALLOWED_FORMATS))
        gr.Warning(message, title=tr("toast_warning", lang))
        return None, "⚠️ " + message
    return gr.skip(), ""


def wire_data_tab(tab: DataTab, services: Services) -> None:
    def build(image, table, repeats, request: gr.Request):
        return build_dataset_ui(services, image, table, repeats, language_of(request),
                                owner=services.access.owner(user_of(request)))

    tab.image.upload(check_image, inputs=tab.image, outputs=[tab.image, tab.summary],
                     api_visibility="private")
    tab.load_example.click(load_example, outputs=[tab.image, tab.table], api_visibility="private")
    tab.import_file.upload(guarded(import_json, message=worded("err_import")), inputs=tab.import_file, outputs=tab.table,
                           api_visibility="private")
    tab.build.click(guarded(build, message=worded("err_dataset")), inputs=[tab.image, tab.table, tab.repeats],
                    outputs=[tab.summary, tab.preview, tab.dataset_id], api_visibility="private")

    def usage(request: gr.Request):
        return usage_markdown(services, services.access.owner(user_of(request)),
                              language_of(request))

    def delete(dataset_id, request: gr.Request):
        return delete_dataset_ui(services, dataset_id, language_of(request), user_of(request))

    tab.delete.click(guarded(delete, message=worded("err_delete_dataset")), inputs=tab.dataset_id,
                     outputs=[tab.summary, tab.preview, tab.dataset_id, tab.usage],
                     api_visibility="private")
    tab.dataset_id.change(usage, outputs=tab.usage, api_visibility="private",
                          show_progress="hidden")
    tab.usage_timer.tick(usage, outputs=tab.usage, api_visibility="private",
                         show_progress="hidden")
