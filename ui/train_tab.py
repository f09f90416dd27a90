"""Tab 2: start, watch and stop a Finetune run (the JobManager owns it)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from backend.runs import progress
from backend.access.accounts import CHANGE, STOP, AccessError
from backend.compare.answer_notes import few_repeats
from backend.runs.spec import LOG_NAME
from backend.runs.jobs import JobError
from backend.runs.log_noise import without_noise
from backend.models.readable_text import without_replacements
from backend.runs.status import run_status, whole_run_seconds
from backend.services import Services
from backend.training.memory import GIB
from backend.data import user_json
from backend.xtuner.config import TrainOptions

from .auth import user_of
from .errors import user_error
from .guard import guarded, worded
from .language import language_of
from .messages import t, tr
from .options_form import OptionsForm, build_options_form, merged_options
from .train_status import FOLLOW_LOG_JS, buttons, phase_text, progress_html

ACTIVE = ("queued", "running", "converting", "stopping")
# The run list reads every run's record and launches: every few seconds is
# live enough, and a class of browsers refreshing it every second is not free.
RUNS_REFRESH_S = 3.0
# Lines read to fill the log view once noise is taken out (most lines are noise).
LOG_SCAN_LINES = 400


@dataclass
class TrainTab:
    form: OptionsForm  # epochs, lr, LoRA rank, max length (ui/options_form.py)
    recipe: gr.Radio  # lesson / fast, shown only where the server trains on CUDA
    options: gr.Code
    start: gr.Button
    stop: gr.Button
    resume: gr.Button
    run_id: gr.Textbox
    status: gr.Markdown
    bar: gr.HTML  # the whole run's progress (ui/train_status.py)
    loss: gr.LinePlot
    log: gr.Textbox
    show_all_log: gr.Checkbox  # off: known noise hidden (backend/runs/log_noise.py)
    commands: gr.Code
    runs: gr.Dataframe
    refresh: gr.Button
    timer: gr.Timer
    runs_timer: gr.Timer  # the run list's own, slower refresh (the whole registry)
    shown_state: gr.State  # frame_signature of what the run list last showed


def build_train_tab(defaults: TrainOptions | None = None,
                    recipe_costs: list[dict] | None = None) -> TrainTab:
    """``recipe_costs``: TrainingService.recipe_costs (empty on the CPU: no choice shown)."""
    costs = recipe_costs or []
    recipe = gr.Radio(recipe_choices(costs), label=t("recipe"), visible=bool(costs),
                      value=next((c["recipe"] for c in costs if c["default"]), None),
                      elem_id="recipe-choice")
    with gr.Accordion(t("advanced"), open=False):
        form = build_options_form(defaults or TrainOptions())
        options = gr.Code(value="{}", language="json", label=t("options"), interactive=True)
    with gr.Row():
        start = gr.Button(t("start"), variant="primary")
        # Enabled by the view when they can act (ui/train_status.py buttons).
        stop = gr.Button(t("stop"), variant="stop", interactive=False)
        resume = gr.Button(t("resume"), interactive=False)
    run_id = gr.Textbox(label=t("run_id"), interactive=False)
    status = gr.Markdown(elem_id="run-status")
    bar = gr.HTML(elem_id="run-progress-box")
    with gr.Row():
        loss = gr.LinePlot(x="iter", y="loss", label=t("loss_curve"), height=260)
        with gr.Column():
            log = gr.Textbox(label=t("log"), lines=12, max_lines=12, autoscroll=True,
                             interactive=False, elem_id="run-log")
            show_all_log = gr.Checkbox(label=t("log_show_all"), value=False)
    commands = gr.Code(label=t("commands"), language="shell", interactive=False)
    runs = gr.Dataframe(label=t("runs"), interactive=False, wrap=True)
    refresh = gr.Button(t("refresh"), size="sm")
    timer = gr.Timer(1.0)
    runs_timer = gr.Timer(RUNS_REFRESH_S)
    shown_state = gr.State("")
    return TrainTab(form, recipe, options, start, stop, resume, run_id, status, bar, loss, log,
                    show_all_log, commands, runs, refresh, timer, runs_timer, shown_state)


def _fmt_seconds(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def recipe_choices(costs: list[dict], lang: str = "en") -> list[tuple[str, str]]:
    """The lesson / fast choice, each with what it costs on this server:
    the steps at the pace measured on an H200 (or that pace, before a
    dataset is chosen) and the GPU memory estimate where it is known."""
    choices = []
    for cost in costs:
        key = f"recipe_{cost['recipe']}"
        name = tr(key, lang) if key in ("recipe_lesson", "recipe_fast") else cost["recipe"]
        if cost["iterations"]:
            text = tr("recipe_steps", lang, name=name, steps=cost["iterations"],
                      time=_fmt_seconds(cost["seconds"]))
        else:
            text = tr("recipe_per_step", lang, name=name, pace=f"{cost['s_per_iter']:.2f}")
        if cost["memory_bytes"]:
            text += tr("recipe_memory", lang, gib=f"{cost['memory_bytes'] / GIB:.1f}")
        choices.append((text, cost["recipe"]))
    return choices


def recipe_costs(services: Services, dataset_id: str = "") -> list[dict]:
    """TrainingService.recipe_costs for the chosen dataset; the memory only
    once the models are there (their config files size it)."""
    try:
        samples = services.datasets.get(dataset_id).samples if dataset_id else None
    except (KeyError, ValueError, OSError):
        samples = None
    ready = services.models.status()["ready"]
    try:
        return services.training.recipe_costs(samples, with_memory=ready)
    except (OSError, ValueError, KeyError):  # model files not readable: no memory figure
        return services.training.recipe_costs(samples, with_memory=False)


def with_recipe(options_json: str, recipe: str | None) -> str:
    """The options JSON with the chosen recipe, unless the JSON names one itself."""
    if not recipe:
        return options_json
    try:
        typed = user_json.loads(options_json)
    except ValueError:
        return options_json  # TrainingService explains bad JSON
    if not isinstance(typed, dict) or "recipe" in typed:
        return options_json
    return json.dumps({**typed, "recipe": recipe})


STATE_KEYS = {f"state_{s}" for s in ("queued", "running", "converting", "stopping", "done",
                                     "failed", "stopped")}


def state_name(state: str, lang: str) -> str:
    """A run state in lang; an unknown state (a newer backend) shows as it is."""
    key = f"state_{state}"
    return tr(key, lang) if key in STATE_KEYS else state


def status_markdown(snap: dict, lang: str = "en") -> str:
    """``snap``: backend/runs/status.py's run_status (a snapshot with phase etc.)."""
    parts = [f"**{state_name(snap['state'], lang)}**"]
    if snap.get("phase") and snap["phase"] != snap["state"]:
        parts.append(phase_text(snap["phase"], lang))
    parts += [tr("status_iter", lang, iter=snap["iter"], max_iters=snap["max_iters"]),
              tr("status_elapsed", lang, time=_fmt_seconds(snap["elapsed_s"]))]
    if snap["state"] in ("running", "converting"):
        parts.append(tr("status_eta", lang, time=_fmt_seconds(snap["eta_s"])))
    if snap["loss"] is not None:
        parts.append(tr("status_loss", lang, loss=snap["loss"]))
    if snap["queue_position"]:
        parts.append(tr("status_queue", lang, position=snap["queue_position"]))
        start = snap.get("estimated_start_s")
        parts.append(tr("status_start_in", lang, time=_fmt_seconds(start))
                     if start is not None else tr("status_start_unknown", lang))
    if snap.get("stopping"):
        parts.append(tr("status_stopping", lang))
    text = " · ".join(parts)
    if snap["error"]:
        text += f"\n\n> {snap['error']}"
    if snap["state"] == "done":
        text += "\n\n" + tr("next_compare", lang)
    return text


RUN_COLUMNS = ("col_run", "col_state", "col_iterations", "col_final_loss", "col_duration")
# A teacher's list holds the whole class's runs: whose each one is, after its id.
TEACHER_COLUMNS = ("col_run", "col_owner", *RUN_COLUMNS[1:])


def runs_frame(services: Services, lang: str = "en", user: str | None = None) -> pd.DataFrame:
    """Every run the visitor may see, newest first, straight from the registry."""
    records = {r["run_id"]: r for r in services.jobs.registry.all()}
    teacher = services.access.accounts.role(user) == "teacher"
    rows = []
    for r in reversed(services.access.visible_runs(user)):
        active = r["state"] in ACTIVE
        record = records.get(r["run_id"], {})
        seconds = whole_run_seconds(services.jobs, r["run_id"], record) \
            if record.get("started_at") else None
        if active and seconds is not None:
            # Whole minutes while it runs: the table changes (and re-renders) at
            # most once a minute on its own; the status line has the seconds.
            seconds = seconds // 60 * 60
        # A resumed run's loss from its earlier launch is not final.
        final = "–" if active or r["final_loss"] is None else f"{r['final_loss']:.4f}"
        row = (r["run_id"], state_name(r["state"], lang), r["max_iters"], final,
               _fmt_seconds(seconds))
        rows.append((row[0], r["owner"], *row[1:]) if teacher else row)
    columns = TEACHER_COLUMNS if teacher else RUN_COLUMNS
    return pd.DataFrame(rows, columns=[tr(key, lang) for key in columns])


def frame_signature(frame: pd.DataFrame) -> str:
    """What the runs table shows, to skip sending an unchanged table."""
    return repr((list(frame.columns), frame.values.tolist()))


def commands_of(services: Services, run_id: str) -> str:
    try:
        return (services.jobs.run_dir(run_id) / "commands.txt").read_text(encoding="utf-8")
    except (JobError, OSError):
        return ""


def log_text(services: Services, snap: dict, show_all: bool) -> str:
    """The log's last lines: all of them, or without the known noise."""
    if show_all:
        return snap["log_tail"]
    lines = progress.tail(services.jobs.run_dir(snap["run_id"]) / LOG_NAME, LOG_SCAN_LINES)
    return without_replacements(without_noise(lines)[0])


def view(services: Services, run_id: str, lang: str = "en", user: str | None = None,
         show_all: bool = False):
    """Everything the tab shows about one run, from its status (in the order of
    wire_train_tab's ``outputs``)."""
    if not run_id:
        return ("", pd.DataFrame(columns=["iter", "loss"]), "", "", "", *buttons(None))
    try:
        services.access.check_run(user, run_id)
        snap = run_status(services.jobs, run_id)
    except (JobError, AccessError) as error:
        return (tr("err_run", lang, error=error), pd.DataFrame(columns=["iter", "loss"]),
                "", "", "", *buttons(None))
    losses = pd.DataFrame(snap["losses"], columns=["iter", "loss"])
    return (status_markdown(snap, lang), losses, log_text(services, snap, show_all),
            commands_of(services, run_id), progress_html(snap, lang), *buttons(snap))


def latest_run(services: Services, user: str | None = None) -> str:
    """Re-attach after a reload: the newest active run, else the newest run."""
    runs = services.access.visible_runs(user)
    active = [r for r in runs if r["state"] in ACTIVE]
    chosen = (active or runs)[-1:] if (active or runs) else []
    return chosen[0]["run_id"] if chosen else ""


def wire_train_tab(tab: TrainTab, services: Services, dataset_id: gr.Textbox) -> None:
    outputs = [tab.status, tab.loss, tab.log, tab.commands, tab.bar, tab.stop, tab.resume]

    def start(ds_id, options, recipe, epochs, lr, lora_r, max_length, request: gr.Request):
        lang = language_of(request)
        if not ds_id:
            raise user_error(tr("err_need_dataset", lang), lang)
        # A refusal reads "could not start: <why>" (the guard's message below).
        services.access.check_dataset(user_of(request), ds_id)
        options = with_recipe(merged_options([epochs, lr, lora_r, max_length], options), recipe)
        snap = services.training.start(ds_id, options,
                                       owner=services.access.owner(user_of(request)))
        repeats = services.datasets.get(ds_id).repeats
        if few_repeats(repeats):
            gr.Warning(tr("warn_few_repeats", lang, repeats=repeats),
                       title=tr("toast_warning", lang))
        if snap.get("already_started"):
            gr.Info(tr("start_same_run", lang, run_id=snap["run_id"],
                       state=state_name(snap["state"], lang)), title=tr("toast_note", lang))
        return snap["run_id"]

    def changing(action, access: str):
        """Stop or resume if the visitor may (access.STOP / CHANGE), then show the run."""
        def handler(run_id, show_all, request: gr.Request):
            user = user_of(request)
            if run_id:
                services.access.check_run(user, run_id, access)
                action(run_id)
            return view(services, run_id, language_of(request), user, show_all)
        return handler

    stop = guarded(changing(services.jobs.stop, STOP), message=worded("err_run"))
    resume = guarded(changing(services.jobs.resume, CHANGE), message=worded("err_resume"))

    def tick(run_id, show_all, request: gr.Request):
        return view(services, run_id, language_of(request), user_of(request), show_all)

    def live_runs(shown, request: gr.Request):
        # The run list is a live view of the registry: any run's change (another
        # student's run, a queued run starting) shows without a click; an
        # unchanged table is not sent again.
        frame = runs_frame(services, language_of(request), user_of(request))
        signature = frame_signature(frame)
        return (frame if signature != shown else gr.skip()), signature

    def runs(request: gr.Request):
        return runs_frame(services, language_of(request), user_of(request))

    def runs_on_change(_run_id, request: gr.Request):
        return runs(request)

    tab.start.click(guarded(start, message=worded("err_start")),
                    inputs=[dataset_id, tab.options, tab.recipe, *tab.form.fields],
                    outputs=tab.run_id, api_visibility="private")
    # The student's own Stop and Resume show in the run list at once.
    tab.stop.click(stop, inputs=[tab.run_id, tab.show_all_log], outputs=outputs,
                   api_visibility="private").then(runs, outputs=tab.runs,
                                                  api_visibility="private")
    tab.resume.click(resume, inputs=[tab.run_id, tab.show_all_log], outputs=outputs,
                     api_visibility="private").then(runs, outputs=tab.runs,
                                                    api_visibility="private")
    tab.timer.tick(tick, inputs=[tab.run_id, tab.show_all_log], outputs=outputs,
                   api_visibility="private", show_progress="hidden"
                   ).then(None, js=FOLLOW_LOG_JS, api_visibility="private")
    tab.runs_timer.tick(live_runs, inputs=tab.shown_state,
                        outputs=[tab.runs, tab.shown_state], api_visibility="private",
                        show_progress="hidden")
    def pick(event: gr.SelectData, request: gr.Request):
        # Clicking a row shows that run (a teacher puts one on the projector).
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        visible = runs_frame(services, language_of(request), user_of(request))
        return visible.iloc[row, 0] if 0 <= row < len(visible) else gr.skip()

    tab.runs.select(pick, outputs=tab.run_id, api_visibility="private")

    def recipe_costs_shown(ds_id, request: gr.Request):
        # Each recipe's steps and memory for the dataset just made, in the page's language.
        return gr.update(choices=recipe_choices(recipe_costs(services, ds_id),
                                                language_of(request)))

    if services.training.launcher.recipe is not None:  # the choice is shown on CUDA only
        dataset_id.change(recipe_costs_shown, inputs=dataset_id, outputs=tab.recipe,
                          api_visibility="private", show_progress="hidden")
    tab.refresh.click(runs, outputs=tab.runs, api_visibility="private")
    tab.run_id.change(runs_on_change, inputs=tab.run_id, outputs=tab.runs,
                      api_visibility="private")
