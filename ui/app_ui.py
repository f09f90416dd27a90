"""build_app(services): the whole page, from the tabs' build/wire pairs."""
from __future__ import annotations

import os

import gradio as gr

from backend.models.profiles import Detected
from backend.services import Services

from . import language
from .api import wire_api
from .auth import user_of
from .class_board import build_class_tab, build_presenter_page, hide_navbar, wire_class_tab
from .compare_tab import build_compare_tab, comparable_runs, wire_compare_tab
from .compare_view import probe_tables, score_texts, timeline_frame
from .data_tab import (SINGLE_CLICK_EDIT_JS, build_data_tab, empty_table, relabel_table,
                       summary_again, wire_data_tab)
from .disk_view import disk_notice
from .gpu_warning import build_gpu_warning, wire_gpu_warning
from .messages import LANGUAGE_CHOICES, TABLES, t, tr
from .train_tab import (build_train_tab, latest_run, recipe_costs, runs_frame,
                        wire_train_tab)
from .who import who_markdown


def models_markdown(services: Services, lang: str = "en") -> str:
    return _models_line(services, lang) + registry_notice(services, lang) \
        + disk_notice(services, lang)


def registry_notice(services: Services, lang: str = "en") -> str:
    """Said on the page while the server runs: studio.db was rebuilt at start."""
    repair = services.registry_repair
    if repair is None:
        return ""
    moved = repair.moved_to.name if repair.moved_to else "–"
    return "\n\n" + tr("registry_rebuilt", lang, reason=repair.reason, moved=moved,
                         runs=repair.runs)


def profile_words(profile: str, lang: str = "en") -> str:
    """The profile in plain words for the header (its folder stays in /models_status)."""
    key = f"profile_{profile}"
    return tr(key, lang) if key in TABLES["en"] else profile


def _models_line(services: Services, lang: str) -> str:
    s = services.models.status()
    profile = profile_words(s["profile"], lang)
    if s["error"]:
        return tr("models_error", lang, profile=profile, error=s["error"])
    if not s["ready"]:
        return tr("models_building", lang, profile=profile, message=s["message"],
                  percent=round(100 * s["fraction"]))
    gpu = services.training.gpu
    device = f"{services.device} · {gpu.describe()}" if gpu else services.device
    return tr("models_ready", lang, profile=profile, device=device)


def internstudio_markdown(detected: tuple[Detected, ...], profile: str,
                          lang: str = "en") -> str:
    """Which of the lesson's paths exist: the first thing to check on InternStudio."""
    if not detected:
        return ""
    root = os.path.commonpath([str(d.path) for d in detected])
    items = " · ".join(("✅ " if d.found else "❌ ") + d.name for d in detected)
    missing = ", ".join(f"`{d.path}`" for d in detected if not d.found)
    if not missing:
        return tr("is_all", lang, root=root, items=items)
    profile = profile_words(profile, lang)
    if not any(d.found for d in detected):
        return tr("is_none", lang, root=root, profile=profile)
    return tr("is_some", lang, root=root, items=items, missing=missing, profile=profile)


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title=t("page_title")) as app:
        hide_navbar(app)  # the presenter page (/board) is reached by its link
        with gr.Row(equal_height=True):
            with gr.Column(scale=5):
                gr.Markdown(t("title"))
                who = gr.Markdown(elem_id="who")
            with gr.Column(scale=1, min_width=160):
                # Not translated: each language is named in its own script.
                lang_switch = gr.Radio(LANGUAGE_CHOICES, value=None, label=t("language"),
                                       elem_id="language-switch")
        gpu_warning = build_gpu_warning(services)  # first: the page cannot hide it
        # Filled in the page's language on load and by the timer (server-side text).
        models = gr.Markdown(elem_id="models-status")
        internstudio = gr.Markdown(elem_id="internstudio-status")
        with gr.Tabs():
            with gr.Tab(t("tab_data")):
                data = build_data_tab()
            with gr.Tab(t("tab_train")):
                train = build_train_tab(services.training.run_defaults,
                                        recipe_costs(services))
            with gr.Tab(t("tab_compare")) as compare_tab:
                compare = build_compare_tab()
            # Teachers only (and the single local user without logins): on load.
            with gr.Tab(t("tab_class"), visible=False) as class_tab:
                class_board = build_class_tab()
        wire_data_tab(data, services)
        wire_train_tab(train, services, data.dataset_id)
        wire_compare_tab(compare, services)
        wire_class_tab(class_board, class_tab, services, app)
        wire_api(services)

        def header(request: gr.Request):
            lang = language.language_of(request)
            return (models_markdown(services, lang),
                    internstudio_markdown(services.profile.internstudio,
                                          services.profile.name, lang))

        status_timer = gr.Timer(2.0)
        status_timer.tick(header, outputs=[models, internstudio],
                          api_visibility="private", show_progress="hidden")

        def on_load(request: gr.Request):
            # A reloaded page re-attaches to what is running: the manager,
            # not this page, owns the run.
            lang, user = language.language_of(request), user_of(request)
            runs = comparable_runs(services, user)
            return (*header(request), empty_table(lang), latest_run(services, user),
                    runs_frame(services, lang, user),
                    gr.update(choices=runs, value=runs[0] if runs else None),
                    who_markdown(services, user, lang), *probe_tables([], TABLES[lang]))

        app.load(on_load, outputs=[models, internstudio, data.table, train.run_id,
                                   train.runs, compare.run, who, compare.probe_table,
                                   compare.probe_details_table],
                 api_visibility="private")
        def compare_choices(request: gr.Request):
            runs = comparable_runs(services, user_of(request))
            return gr.update(choices=runs, value=runs[0] if runs else None)

        compare_tab.select(compare_choices, outputs=compare.run, api_visibility="private")

        def carry_image(data_image, compare_image):
            # Compare starts with the image the student trained on.
            return data_image if data_image and not compare_image else gr.skip()

        compare_tab.select(carry_image, inputs=[data.image, compare.image],
                           outputs=compare.image, api_visibility="private")
        # The switch runs in the browser only (gradio's locale + a cookie for the
        # server); the page load shows which language is in effect.
        app.load(None, js=language.LOAD_JS, outputs=lang_switch, api_visibility="private")
        app.load(None, js=SINGLE_CLICK_EDIT_JS, api_visibility="private")

        def relabel(code, table, probe_rows, chat, dataset_id, timeline, request: gr.Request):
            # The switch's own value says the language (its cookie may still be
            # on its way): server-made text follows at once, not at the next tick.
            lang = language.table_of(code)
            return (models_markdown(services, lang),
                    internstudio_markdown(services.profile.internstudio,
                                          services.profile.name, lang),
                    relabel_table(table, lang), runs_frame(services, lang, user_of(request)),
                    who_markdown(services, user_of(request), lang),
                    *probe_tables(probe_rows or [], TABLES[lang]),
                    *score_texts((chat or {}).get("shown"), TABLES[lang]),
                    summary_again(services, dataset_id, lang, user_of(request)),
                    timeline_frame(timeline, TABLES[lang]) if timeline else gr.skip())

        lang_switch.input(None, inputs=lang_switch, js=language.SET_JS,
                          api_visibility="private")
        wire_gpu_warning(gpu_warning, services, app, lang_switch)
        lang_switch.input(relabel, inputs=[lang_switch, data.table, compare.probe_rows,
                                           compare.history, data.dataset_id,
                                           compare.timeline_entries],
                          outputs=[models, internstudio, data.table, train.runs, who,
                                   compare.probe_table, compare.probe_details_table,
                                   compare.base_score, compare.finetuned_score,
                                   compare.reference, data.summary, compare.timeline],
                          api_visibility="private", show_progress="hidden")
    build_presenter_page(app, services)
    return app
