"""Every string the page shows comes from the translation tables, in both languages."""
import ast
import string
from pathlib import Path

import pytest

from ui import language, messages

UI = Path(__file__).resolve().parents[2] / "ui"
# Component arguments a person reads on the page.
SHOWN_KWARGS = {"label", "info", "placeholder", "title", "value"}
# Components whose first positional argument is shown text.
TEXT_FIRST = {"Markdown", "Button", "Tab", "Accordion", "HTML", "Warning", "Info", "Error"}


def ui_sources():
    return sorted(p for p in UI.glob("*.py") if p.name != "messages.py")


def calls(tree, names):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in names:
                yield name, node


def used_keys():
    """(file, function, key) for every t("...")/tr("...") call under ui/."""
    for path in ui_sources():
        for name, node in calls(ast.parse(path.read_text(encoding="utf-8")), {"t", "tr"}):
            if node.args and isinstance(node.args[0], ast.Constant):
                yield path.name, name, node.args[0].value


def fields(template):
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def test_the_compare_strings_are_merged_without_clashes():
    assert messages.CLASHES == []
    from ui import messages_compare

    assert set(messages_compare.EN_COMPARE) <= set(messages.EN)


def test_both_tables_have_the_same_keys():
    en, zh = messages.TABLES["en"], messages.TABLES["zh"]
    assert sorted(set(en) - set(zh)) == [], "missing in Chinese"
    assert sorted(set(zh) - set(en)) == [], "missing in English"


def test_every_key_used_under_ui_exists_in_both_languages():
    found = list(used_keys())
    assert len(found) > 30  # the scan really sees the tabs
    for file, _fn, key in found:
        for lang in ("en", "zh"):
            assert key in messages.TABLES[lang], f"{file}: {key!r} missing in {lang}"
            assert messages.TABLES[lang][key].strip(), f"{key!r} empty in {lang}"


# Top-level namespaces of gradio 6.17.3's own translations (js/core/src/lang/en.json).
# A key of ours with one of these names is looked up as gradio's nested table and the
# label shows "[object Object]" (gradio issues #11351, #13169).
GRADIO_NAMESPACES = {"_name", "3D_model", "annotated_image", "audio", "blocks", "chatbot",
                     "chat_interface", "checkbox", "code", "color_picker", "common",
                     "dataframe", "dropdown", "errors", "file", "highlighted_text", "image",
                     "label", "login", "number", "plot", "radio", "slider", "upload_text",
                     "video"}


def test_no_key_shadows_gradios_own_translations():
    for key in messages.TABLES["en"]:
        assert key not in GRADIO_NAMESPACES, key
        assert "." not in key, f"{key}: svelte-i18n reads dots as nesting"


def test_server_side_messages_take_the_same_fields_in_both_languages():
    for key, english in messages.TABLES["en"].items():
        assert fields(english) == fields(messages.TABLES["zh"][key]), key


def test_browser_translated_messages_have_no_icu_braces():
    # t() text is formatted by the browser as an ICU message: a brace would break it.
    for file, fn, key in used_keys():
        if fn == "t":
            for lang in ("en", "zh"):
                assert "{" not in messages.TABLES[lang][key], f"{file}: {key} ({lang})"


def test_no_hard_coded_text_in_components():
    """Labels and shown text are t(...) calls, never literal strings."""
    offenders = []
    for path in ui_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, node in calls(tree, TEXT_FIRST | {"Image", "Textbox", "Dataframe", "File",
                                                    "Number", "Code", "Radio", "Dropdown",
                                                    "LinePlot", "Gallery", "Slider",
                                                    "Checkbox", "JSON", "Blocks"}):
            literal = [kw.arg for kw in node.keywords if kw.arg in SHOWN_KWARGS
                       and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)
                       and kw.value.value.strip() and not (name in ("Code", "Textbox")
                                                           and kw.arg == "value")]
            if name in TEXT_FIRST and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                literal.append("text")
            if literal:
                offenders.append(f"{path.name}:{node.lineno} {name} {literal}")
    assert offenders == []


@pytest.mark.parametrize("path", ui_sources(), ids=lambda p: p.name)
def test_user_errors_are_messages_not_literals(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offenders = [node.lineno for _name, node in calls(tree, {"user_error"})
                 if node.args and isinstance(node.args[0], ast.Constant)]
    assert offenders == [], f"{path.name}: literal error text at lines {offenders}"


def test_lesson_terms_stay_as_students_know_them():
    zh = messages.TABLES["zh"]
    assert "Finetune" in zh["start"] and "Finetune" in zh["tab_train"]
    assert "iter_2181" in zh["base_answer"] and "Pretrain" in zh["base_answer"]


@pytest.mark.parametrize("header, expected", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"), ("zh-TW", "zh"),
    ("fr-FR,en;q=0.5,zh;q=0.7", "zh"), ("de-DE", "en"), (None, "en"), ("", "en"),
])
def test_accept_language_picks_the_table(header, expected):
    assert language.best_of_accept_language(header) == expected


def test_the_switch_cookie_wins_over_the_browser():
    class Request:
        headers = {"accept-language": "en-US"}
        cookies = {language.COOKIE: "zh-CN"}
    assert language.language_of(Request()) == "zh"
    Request.cookies = {}
    assert language.language_of(Request()) == "en"
    assert language.language_of(None) == "en"


def test_tr_formats_in_the_language():
    assert messages.tr("status_iter", "zh", iter=3, max_iters=10) == "迭代 3 / 10"
    assert messages.tr("status_iter", "en", iter=3, max_iters=10) == "iteration 3 / 10"
    assert messages.tr("stop", "xx") == "Stop"  # an unknown language falls back to English


def test_switch_offers_both_codes():
    assert [code for _name, code in messages.LANGUAGE_CHOICES] == list(language.CODES)


def test_gradios_i18n_module_is_where_the_switch_looks():
    """The switch imports gradio's own i18n module by its file name (ui/language.py);
    a gradio upgrade that renames it must fail here, not silently in the browser."""
    import gradio

    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    modules = list(assets.glob("i18n-*.js"))
    assert len(modules) == 1, modules
    assert "svelte-i18n" in modules[0].read_text(encoding="utf-8")
