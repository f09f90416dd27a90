"""The Finetune tab's Advanced options as a form: the four options students
change most, each with its limits; the JSON box stays for everything else
(and is what the API takes)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr

from backend.data import user_json
from backend.xtuner.config import TrainOptions

from .messages import t

# (option name, message key of its label); limits come from TrainOptions.
FORM_OPTIONS = (("epochs", "opt_epochs"), ("lr", "opt_lr"), ("llm_lora_r", "opt_lora_r"),
                ("max_length", "opt_max_length"))


@dataclass
class OptionsForm:
    fields: list[gr.Number]


def limits_of(name: str) -> tuple[float, float]:
    return TrainOptions._LIMITS[name]


def build_options_form(defaults: TrainOptions) -> OptionsForm:
    """Inside the Advanced accordion: one number box per option, limits shown."""
    fields = []
    with gr.Row():
        for name, key in FORM_OPTIONS:
            low, high = limits_of(name)
            integer = isinstance(getattr(defaults, name), int)
            fields.append(gr.Number(
                value=getattr(defaults, name), label=t(key), minimum=low, maximum=high,
                precision=0 if integer else None, step=1 if integer else None,
                info=f"{low:g} – {high:g}", elem_id=f"option-{name}"))
    return OptionsForm(fields)


def merged_options(form_values: list, options_json: str) -> str:
    """The form's values under the JSON box's (a key typed there wins): the
    JSON text TrainingService.start takes. Bad JSON is left for it to explain."""
    text = (options_json or "").strip() or "{}"
    try:
        typed = user_json.loads(text)
    except json.JSONDecodeError:
        return text
    if not isinstance(typed, dict):
        return text
    form = {name: value for (name, _key), value in zip(FORM_OPTIONS, form_values)
            if value is not None}
    return json.dumps({**form, **typed})
