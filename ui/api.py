"""Named API endpoints for gradio_client: JSON in, JSON out.

Each endpoint is an event on hidden components, so files travel the way
gradio_client's ``handle_file`` sends them.
"""
from __future__ import annotations

import contextlib

import gradio as gr

from backend.access.accounts import CHANGE, READ, STOP
from backend.data import dataset
from backend.data.images import ImageError
from backend.models.chat import ChatError
from backend.models.readable_text import dropped_of
from backend.runs.status import run_status as run_status_of
from backend.services import Services

from .auth import user_of
from .gpu_warning import gpu_warnings
from .guard import guarded
from .language import language_of

# Which endpoints act on a run (their first argument), and what they do to it.
READS_RUN = {"run_status", "compare", "compare_chat", "probe", "timeline", "export"}
STOPS_RUN = {"stop_training"}
CHANGES_RUN = {"resume_training", "delete_run"}
RUN_ACTIONS = {**dict.fromkeys(READS_RUN, READ), **dict.fromkeys(STOPS_RUN, STOP),
               **dict.fromkeys(CHANGES_RUN, CHANGE)}


def _access(services: Services, name: str):
    """The access rules an endpoint checks before it runs: those acting on a run
    (its first argument) need to read, stop or change it (RUN_ACTIONS). Every
    endpoint function takes ``request: gr.Request`` last, which gradio fills in."""
    def check(args: tuple) -> None:
        if name in RUN_ACTIONS:
            services.access.check_run(user_of(args[-1]), args[0], RUN_ACTIONS[name])
    return check


def _holding(services: Services):
    """While an endpoint runs, the request's uploaded files stay in gradio's
    cache (data/upload_cleaner.py sweeps only files no request holds)."""
    def hold(args: tuple):
        if getattr(services, "uploads", None) is None:
            return contextlib.nullcontext()
        return services.uploads.holding(args)
    return hold


def wire_api(services: Services) -> None:
    """Add the endpoints; call inside the Blocks context."""
    with gr.Column(visible=False):
        image = gr.File(type="filepath")
        text_a = gr.Textbox()
        text_b = gr.Textbox()
        number = gr.Number(precision=0)
        result = gr.JSON()

    def build_dataset(image_path, qa_json, repeats, request: gr.Request):
        if not image_path:
            raise ImageError("An image file is required.")
        conversations = dataset.parse_qa_json(qa_json)
        repeats = int(repeats) if repeats is not None else 200
        stored = services.datasets.create(image_path, conversations, repeats,
                                          owner=services.access.owner(user_of(request)))
        return {"dataset_id": stored.dataset_id, "samples": stored.samples,
                "conversations": stored.conversations, "repeats": stored.repeats,
                **services.training.schedule(stored.samples),
                "preview": dataset.prompt_preview(conversations[0])}

    def start_training(dataset_id, options_json, request: gr.Request):
        services.access.check_dataset(user_of(request), dataset_id)
        snap = services.training.start(dataset_id, options_json or "{}",
                                       owner=services.access.owner(user_of(request)))
        return {"run_id": snap["run_id"], "state": snap["state"],
                "queue_position": snap["queue_position"], "max_iters": snap["max_iters"],
                # True: the same dataset and options were already queued or running,
                # and this is that run (no copy was queued).
                "already_started": snap["already_started"]}

    def run_status(run_id, request: gr.Request):
        return run_status_of(services.jobs, run_id)

    def stop_training(run_id, request: gr.Request):
        return services.jobs.stop(run_id)

    def resume_training(run_id, request: gr.Request):
        return services.jobs.resume(run_id)

    def delete_run(run_id, request: gr.Request):
        services.jobs.delete(run_id)
        return {"run_id": run_id, "deleted": True}

    def delete_dataset(dataset_id, request: gr.Request):
        services.access.check_dataset(user_of(request), dataset_id)  # owner only
        services.datasets.delete(dataset_id)
        return {"dataset_id": dataset_id, "deleted": True}

    def compare(run_id, image_path, question, request: gr.Request):
        """Streams {"base", "finetuned", "done"}: partial answers, then the final.
        Without an image, about the one the run was trained on."""
        for partial in services.compare.stream(run_id, image_path, question):
            yield {"base": partial["base"], "finetuned": partial["finetuned"],
                   "done": partial["done"]}

    def list_runs(request: gr.Request):
        return services.access.visible_runs(user_of(request))

    def models_status(request: gr.Request):
        return {**services.models.status(),
                "warnings": gpu_warnings(services, language_of(request))}

    endpoints = [
        (build_dataset, [image, text_a, number], "build_dataset"),
        (start_training, [text_a, text_b], "start_training"),
        (run_status, [text_a], "run_status"),
        (stop_training, [text_a], "stop_training"),
        (resume_training, [text_a], "resume_training"),
        (delete_run, [text_a], "delete_run"),
        (delete_dataset, [text_a], "delete_dataset"),
        (compare, [text_a, image, text_b], "compare"),
        (list_runs, [], "list_runs"),
        (models_status, [], "models_status"),
    ]
    for fn, inputs, name in endpoints:
        extra = {"concurrency_id": "models", "concurrency_limit": 1} if name == "compare" else {}
        gr.Button(visible=False).click(guarded(fn, _access(services, name),
                                               hold=_holding(services)), inputs=inputs,
                                       outputs=result, api_name=name, **extra)
    _wire_compare_extras(services)


def _wire_compare_extras(services: Services) -> None:
    """The Compare tab's other tools: multi-turn chat, probes, timeline, export."""
    with gr.Column(visible=False):
        run_id, text, history, after = (gr.Textbox() for _ in range(4))
        image = gr.File(type="filepath")
        result = gr.JSON()
        out_file = gr.File()
    compare = services.compare

    def compare_chat(run, image_path, question, history_json, after_name,
                     request: gr.Request):
        """One turn of a multi-turn compare. ``history_json``: {"base": [[q, a], ...],
        "finetuned": [...]} (each model's own turns); streams, the final yield adds
        "history" for the next turn and the scores against the references.
        "dropped_turns": the oldest turns left out of the prompt (they did not fit).
        Without an image, about the one the run was trained on."""
        history = _history_json(history_json)
        for part in compare.turn(run, image_path, question, history, after_name or None):
            answer = {"base": part["base"], "finetuned": part["finetuned"], "done": part["done"],
                      "dropped_turns": part["dropped_turns"]}
            if part["done"]:
                answer.update(scores=part["scores"], history=part["history"],
                              # Undecodable byte runs left out of each answer
                              # (backend/models/readable_text.py).
                              dropped={"base": dropped_of(part["base"]),
                                       "finetuned": dropped_of(part["finetuned"])})
            yield answer

    def probe(run, probes_text, image_path, after_name, request: gr.Request):
        """All rows, then the CSV: ({"rows": [...], "done": bool}, csv file)."""
        rows = []
        for rows in compare.probe_table(run, probes_text, image_path or None, after_name or None):
            yield {"rows": rows, "done": False}, None
        yield {"rows": rows, "done": True}, str(compare.probe_csv(rows, run))

    def timeline(run, request: gr.Request):
        return compare.timeline_report(run)

    def export(run, after_name, request: gr.Request):
        archive = compare.export(run, after_name or None)
        return {"archive": archive.name, "command": compare.export_command()}, str(archive)

    endpoints = [
        (compare_chat, [run_id, image, text, history, after], [result], "compare_chat"),
        (probe, [run_id, text, image, after], [result, out_file], "probe"),
        (timeline, [run_id], [result], "timeline"),
        (export, [run_id, after], [result, out_file], "export"),
    ]
    for fn, inputs, outputs, name in endpoints:
        extra = {} if name == "timeline" else {"concurrency_id": "models",
                                                "concurrency_limit": 1}
        gr.Button(visible=False).click(guarded(fn, _access(services, name),
                                               hold=_holding(services)), inputs=inputs,
                                       outputs=outputs, api_name=name, **extra)


def _history_json(text: str | None) -> dict:
    """The history argument: empty, or a JSON object."""
    import json

    from backend.data import user_json

    if not text:
        return {}
    try:
        value = user_json.loads(text)
    except json.JSONDecodeError as error:
        raise ChatError(f"history_json does not parse: {error}") from None
    if not isinstance(value, dict):
        raise ChatError("history_json must be a JSON object.")
    return value
