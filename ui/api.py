"""Named API endpoints for gradio_client: JSON in, JSON out.

Each endpoint is an event on hidden components, so files travel the way
gradio_client's ``handle_file`` sends them.
"""
from __future__ import annotations


import gradio as gr

from backend import dataset
from backend.chat import ChatError
from backend.disk import DiskSpaceError
from backend.images import ImageError
from backend.jobs import JobError
from backend.model_builder import ModelsNotReady
from backend.services import Services
from backend.xtuner_config import ConfigError

from .errors import user_error

USER_ERRORS = (dataset.DatasetError, ImageError, JobError, ConfigError, ChatError,
               ModelsNotReady, DiskSpaceError, ValueError, KeyError)


def _guard(fn):
    def call(*args):
        try:
            return fn(*args)
        except USER_ERRORS as error:
            raise user_error(error.args[0] if isinstance(error, KeyError) else error)
    return call


def _guard_stream(fn):
    # A generator function of its own, so gradio streams each yield.
    def stream(*args):
        try:
            yield from fn(*args)
        except USER_ERRORS as error:
            raise user_error(error.args[0] if isinstance(error, KeyError) else error)
    return stream


def wire_api(services: Services) -> None:
    """Add the endpoints; call inside the Blocks context."""
    with gr.Column(visible=False):
        image = gr.File(type="filepath")
        text_a = gr.Textbox()
        text_b = gr.Textbox()
        number = gr.Number(precision=0)
        result = gr.JSON()

    def build_dataset(image_path, qa_json, repeats):
        if not image_path:
            raise ImageError("An image file is required.")
        conversations = dataset.parse_qa_json(qa_json)
        repeats = int(repeats) if repeats is not None else 200
        stored = services.datasets.create(image_path, conversations, repeats)
        return {"dataset_id": stored.dataset_id, "samples": stored.samples,
                "conversations": stored.conversations, "repeats": stored.repeats,
                "iterations": dataset.iterations_for(stored.samples, 1, 1),
                "preview": dataset.prompt_preview(conversations[0])}

    def start_training(dataset_id, options_json):
        snap = services.training.start(dataset_id, options_json or "{}")
        return {"run_id": snap["run_id"], "state": snap["state"],
                "queue_position": snap["queue_position"], "max_iters": snap["max_iters"]}

    def run_status(run_id):
        return services.jobs.snapshot(run_id)

    def stop_training(run_id):
        return services.jobs.snapshot(run_id) if not run_id else services.jobs.stop(run_id)

    def resume_training(run_id):
        return services.jobs.resume(run_id)

    def delete_run(run_id):
        services.jobs.delete(run_id)
        return {"run_id": run_id, "deleted": True}

    def compare(run_id, image_path, question):
        """Streams {"base", "finetuned", "done"}: partial answers, then the final."""
        if not image_path:
            raise ImageError("An image file is required.")
        for partial in services.compare.stream(run_id, image_path, question):
            yield {"base": partial["base"], "finetuned": partial["finetuned"],
                   "done": partial["done"]}

    def list_runs():
        return services.jobs.list_runs()

    def models_status():
        return services.models.status()

    endpoints = [
        (build_dataset, [image, text_a, number], "build_dataset"),
        (start_training, [text_a, text_b], "start_training"),
        (run_status, [text_a], "run_status"),
        (stop_training, [text_a], "stop_training"),
        (resume_training, [text_a], "resume_training"),
        (delete_run, [text_a], "delete_run"),
        (compare, [text_a, image, text_b], "compare"),
        (list_runs, [], "list_runs"),
        (models_status, [], "models_status"),
    ]
    for fn, inputs, name in endpoints:
        extra = {"concurrency_id": "models", "concurrency_limit": 1} if name == "compare" else {}
        guard = _guard_stream if name == "compare" else _guard
        gr.Button(visible=False).click(guard(fn), inputs=inputs, outputs=result,
                                       api_name=name, **extra)
    _wire_compare_extras(services)


def _wire_compare_extras(services: Services) -> None:
    """The Compare tab's other tools: multi-turn chat, probes, timeline, export."""
    # ProbeError, TimelineError and ExportError are ValueErrors: _guard shows them.
    from backend.timeline import changes, read_timeline

    with gr.Column(visible=False):
        run_id, text, history, after = (gr.Textbox() for _ in range(4))
        image = gr.File(type="filepath")
        result = gr.JSON()
        out_file = gr.File()
    compare = services.compare

    def compare_chat(run, image_path, question, history_json, after_name):
        """One turn of a multi-turn compare. ``history_json``: {"base": [[q, a], ...],
        "finetuned": [...]} (each model's own turns); streams, the final yield adds
        "history" for the next turn and the scores against the references."""
        if not image_path:
            raise ImageError("An image file is required.")
        history = _history_json(history_json)
        partial = {"base": "", "finetuned": ""}
        for partial in compare.stream(run, image_path, question, history, after_name or None):
            yield {"base": partial["base"], "finetuned": partial["finetuned"], "done": False}
        judged = compare.judge(run, question, partial["base"], partial["finetuned"])
        yield {"base": partial["base"], "finetuned": partial["finetuned"], "done": True,
               "scores": judged, "history": {
                   "base": history.get("base", []) + [[question, partial["base"]]],
                   "finetuned": history.get("finetuned", []) + [[question, partial["finetuned"]]]}}

    def probe(run, probes_text, image_path, after_name):
        """All rows, then the CSV: ({"rows": [...], "done": bool}, csv file)."""
        rows = []
        for rows in compare.probe_table(run, probes_text, image_path or None, after_name or None):
            yield {"rows": rows, "done": False}, None
        yield {"rows": rows, "done": True}, str(compare.probe_csv(rows, run))

    def timeline(run):
        entries = read_timeline(services.jobs.run_dir(run) / "train")
        return {"entries": [e.as_dict() for e in entries], "changes": changes(entries)}

    def export(run, after_name):
        archive = compare.export(run, after_name or None)
        return {"archive": archive.name, "command": compare.export_command()}, str(archive)

    endpoints = [
        (_guard_stream(compare_chat), [run_id, image, text, history, after], [result],
         "compare_chat"),
        (_guard_stream(probe), [run_id, text, image, after], [result, out_file], "probe"),
        (_guard(timeline), [run_id], [result], "timeline"),
        (_guard(export), [run_id, after], [result, out_file], "export"),
    ]
    for fn, inputs, outputs, name in endpoints:
        extra = {} if name == "timeline" else {"concurrency_id": "models",
                                                "concurrency_limit": 1}
        gr.Button(visible=False).click(fn, inputs=inputs, outputs=outputs, api_name=name,
                                       **extra)


def _history_json(text: str | None) -> dict:
    """The history argument: empty, or a JSON object."""
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ChatError(f"history_json does not parse: {error}") from None
    if not isinstance(value, dict):
        raise ChatError("history_json must be a JSON object.")
    return value
