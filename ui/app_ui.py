"""build_app(services): the whole page, from the tabs' build/wire pairs."""
from __future__ import annotations

import gradio as gr

from backend.services import Services

from .api import wire_api
from .compare_tab import build_compare_tab, done_runs, wire_compare_tab
from .data_tab import build_data_tab, wire_data_tab
from .messages import t
from .train_tab import build_train_tab, latest_run, runs_frame, wire_train_tab


def models_markdown(services: Services) -> str:
    s = services.models.status()
    if s["error"]:
        return f"⚠️ **{s['profile']}**: {s['error']}"
    if not s["ready"]:
        return f"⏳ **{s['profile']}** — {s['message']} ({s['fraction']:.0%})"
    return f"✅ **{s['profile']}** — {s['description']} · device: {services.device}"


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="XTuner LLaVA Studio") as app:
        gr.Markdown(t("title"))
        models = gr.Markdown(models_markdown(services))
        with gr.Tabs():
            with gr.Tab(t("tab_data")):
                data = build_data_tab()
            with gr.Tab(t("tab_train")):
                train = build_train_tab()
            with gr.Tab(t("tab_compare")) as compare_tab:
                compare = build_compare_tab()
        wire_data_tab(data, services)
        wire_train_tab(train, services, data.dataset_id)
        wire_compare_tab(compare, services)
        wire_api(services)

        status_timer = gr.Timer(2.0)
        status_timer.tick(lambda: models_markdown(services), outputs=models,
                          api_visibility="private", show_progress="hidden")

        def on_load():
            # A reloaded page re-attaches to what is running: the manager,
            # not this page, owns the run.
            runs = done_runs(services)
            return (latest_run(services), runs_frame(services),
                    gr.update(choices=runs, value=runs[0] if runs else None))

        app.load(on_load, outputs=[train.run_id, train.runs, compare.run],
                 api_visibility="private")
        compare_tab.select(lambda: gr.update(choices=done_runs(services),
                                             value=(done_runs(services) or [None])[0]),
                           outputs=compare.run, api_visibility="private")
    return app
