"""Tab 2: start, watch and stop a Finetune run (the JobManager owns it)."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from backend.jobs import JobError
from backend.model_builder import ModelsNotReady
from backend.services import Services
from backend.xtuner_config import ConfigError

from .errors import user_error
from .messages import t

ACTIVE = ("queued", "running", "converting")


@dataclass
class TrainTab:
    options: gr.Code
    start: gr.Button
    stop: gr.Button
    resume: gr.Button
    run_id: gr.Textbox
    status: gr.Markdown
    loss: gr.LinePlot
    log: gr.Textbox
    commands: gr.Code
    runs: gr.Dataframe
    refresh: gr.Button
    timer: gr.Timer


def build_train_tab() -> TrainTab:
    with gr.Accordion(t("advanced"), open=False):
        options = gr.Code(value="{}", language="json", label=t("options"), interactive=True)
    with gr.Row():
        start = gr.Button(t("start"), variant="primary")
        stop = gr.Button(t("stop"), variant="stop")
        resume = gr.Button(t("resume"))
    run_id = gr.Textbox(label=t("run_id"), interactive=False)
    status = gr.Markdown()
    with gr.Row():
        loss = gr.LinePlot(x="iter", y="loss", label=t("loss_curve"), height=260)
        log = gr.Textbox(label=t("log"), lines=12, max_lines=12, autoscroll=True,
                         interactive=False)
    commands = gr.Code(label=t("commands"), language="shell", interactive=False)
    runs = gr.Dataframe(label=t("runs"), interactive=False, wrap=True)
    refresh = gr.Button(t("refresh"), size="sm")
    timer = gr.Timer(1.0)
    return TrainTab(options, start, stop, resume, run_id, status, loss, log, commands,
                    runs, refresh, timer)


def _fmt_seconds(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_markdown(snap: dict) -> str:
    parts = [f"**{snap['state']}**", f"iteration {snap['iter']} / {snap['max_iters']}",
             f"elapsed {_fmt_seconds(snap['elapsed_s'])}", f"ETA {_fmt_seconds(snap['eta_s'])}"]
    if snap["loss"] is not None:
        parts.append(f"loss {snap['loss']:.4f}")
    if snap["queue_position"]:
        parts.append(f"queue position {snap['queue_position']}")
    text = " · ".join(parts)
    if snap["error"]:
        text += f"\n\n> {snap['error']}"
    return text


def runs_frame(services: Services) -> pd.DataFrame:
    rows = [{"run": r["run_id"], "state": r["state"], "iterations": r["max_iters"],
             "final loss": None if r["final_loss"] is None else round(r["final_loss"], 4),
             "duration": _fmt_seconds(r["duration_s"])}
            for r in reversed(services.jobs.list_runs())]
    return pd.DataFrame(rows, columns=["run", "state", "iterations", "final loss", "duration"])


def commands_of(services: Services, run_id: str) -> str:
    try:
        return (services.jobs.run_dir(run_id) / "commands.txt").read_text(encoding="utf-8")
    except (JobError, OSError):
        return ""


def view(services: Services, run_id: str):
    """Everything the tab shows about one run, from the manager's snapshot."""
    if not run_id:
        return "", pd.DataFrame(columns=["iter", "loss"]), "", ""
    try:
        snap = services.jobs.snapshot(run_id)
    except JobError as error:
        return str(error), pd.DataFrame(columns=["iter", "loss"]), "", ""
    losses = pd.DataFrame(snap["losses"], columns=["iter", "loss"])
    return status_markdown(snap), losses, snap["log_tail"], commands_of(services, run_id)


def latest_run(services: Services) -> str:
    """Re-attach after a reload: the newest active run, else the newest run."""
    runs = services.jobs.list_runs()
    active = [r for r in runs if r["state"] in ACTIVE]
    chosen = (active or runs)[-1:] if (active or runs) else []
    return chosen[0]["run_id"] if chosen else ""


def wire_train_tab(tab: TrainTab, services: Services, dataset_id: gr.Textbox) -> None:
    outputs = [tab.status, tab.loss, tab.log, tab.commands]

    def start(ds_id, options):
        if not ds_id:
            raise user_error("Build a dataset first (tab 1).")
        try:
            snap = services.training.start(ds_id, options or "{}")
        except (JobError, ConfigError, ValueError, KeyError, ModelsNotReady) as error:
            raise user_error(error)
        return snap["run_id"]

    def stop(run_id):
        if run_id:
            services.jobs.stop(run_id)
        return view(services, run_id)

    def resume(run_id):
        try:
            services.jobs.resume(run_id)
        except JobError as error:
            raise user_error(error)
        return view(services, run_id)

    tab.start.click(start, inputs=[dataset_id, tab.options], outputs=tab.run_id,
                    api_visibility="private")
    tab.stop.click(stop, inputs=tab.run_id, outputs=outputs, api_visibility="private")
    tab.resume.click(resume, inputs=tab.run_id, outputs=outputs, api_visibility="private")
    tab.timer.tick(lambda run_id: view(services, run_id), inputs=tab.run_id, outputs=outputs,
                   api_visibility="private", show_progress="hidden")
    tab.refresh.click(lambda: runs_frame(services), outputs=tab.runs, api_visibility="private")
    tab.run_id.change(lambda _r: runs_frame(services), inputs=tab.run_id, outputs=tab.runs,
                      api_visibility="private")
