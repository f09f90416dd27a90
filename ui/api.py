"""Named API endpoints for gradio_client: JSON in, JSON out.

Each endpoint is an event on hidden components, so files travel the way
gradio_client's ``handle_file`` sends them.
"""
from __future__ import annotations


import gradio as gr

from backend import dataset
from backend.chat import ChatError
from backend.images import ImageError
from backend.jobs import JobError
from backend.model_builder import ModelsNotReady
from backend.services import Services
from backend.xtuner_config import ConfigError

from .errors import user_error

USER_ERRORS = (dataset.DatasetError, ImageError, JobError, ConfigError, ChatError,
               ModelsNotReady, ValueError, KeyError)


def _guard(fn):
    def call(*args):
        try:
            return fn(*args)
        except USER_ERRORS as error:
            raise user_error(error.args[0] if isinstance(error, KeyError) else error)
    return call


def wire_api(services: Services) -> None:
    """Add the endpoints; call inside the Blocks context."""
    with gr.Column(visible=False):
        image = gr.File(type="filepath")
        text_a = gr.Textbox()
        text_b = gr.Textbox()
        number = gr.Number(precision=0)
        result = gr.JSON()
        trigger = [gr.Button() for _ in range(7)]

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

    def compare(run_id, image_path, question):
        if not image_path:
            raise ImageError("An image file is required.")
        return services.compare.compare(run_id, image_path, question)

    def list_runs():
        return services.jobs.list_runs()

    def models_status():
        return services.models.status()

    endpoints = [
        (build_dataset, [image, text_a, number], "build_dataset"),
        (start_training, [text_a, text_b], "start_training"),
        (run_status, [text_a], "run_status"),
        (stop_training, [text_a], "stop_training"),
        (compare, [text_a, image, text_b], "compare"),
        (list_runs, [], "list_runs"),
        (models_status, [], "models_status"),
    ]
    for button, (fn, inputs, name) in zip(trigger, endpoints):
        extra = {"concurrency_id": "models", "concurrency_limit": 1} if name == "compare" else {}
        button.click(_guard(fn), inputs=inputs, outputs=result, api_name=name, **extra)


