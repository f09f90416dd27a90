"""The Compare tab's tools on one real demo-profile run, through gradio_client.

(The first test needs no model: the streaming contract against a stand-in.)

Every other test works on the session's shared demo run (tests/support/
trained_app.py, trained once for tests/app): probe table scores, streaming,
multi-turn, the evaluation timeline, an earlier checkpoint as the "after"
model, and the export loaded by plain `xtuner chat`.
"""
import json
import os
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from gradio_client import Client, handle_file

from backend.compare.scoring import rouge_l
from tests.support.images import QA, make_star_image
from tests.support.trained_app import EVERY

pytestmark = pytest.mark.processes


class StreamingCompare:
    """Stands in for CompareService: three partial answers, then the final."""

    def stream(self, run_id, image_path, question, history=None, after=None):
        for n, done in ((1, False), (2, False), (3, True)):
            yield {"base": "caption"[: n * 2], "finetuned": "latte"[: n * 2], "done": done}


def test_compare_endpoint_streams_through_gradio_client(tmp_path):
    from types import SimpleNamespace

    import gradio as gr

    from ui.api import wire_api

    image = make_star_image(tmp_path / "star.png")
    class OpenAccess:  # no auth: every run readable
        def check_run(self, user, run_id, action="read"):
            assert user is None and run_id == "run-x"

    services = SimpleNamespace(compare=StreamingCompare(), access=OpenAccess())
    with gr.Blocks() as app:
        wire_api(services)
    app.queue().launch(prevent_thread_lock=True, server_port=None, quiet=True)
    try:
        client = Client(app.local_url, verbose=False)
        job = client.submit("run-x", handle_file(str(image)), "Q?", api_name="/compare")
        final = job.result(timeout=60)
        assert [o["finetuned"] for o in job.outputs()] == ["la", "latt", "latte"]
        assert final == {"base": "captio", "finetuned": "latte", "done": True}
        assert client.predict("run-x", handle_file(str(image)), "Q?",
                              api_name="/compare")["finetuned"] == "latte"
    finally:
        app.close()


@pytest.mark.slow
def test_probe_table_shows_memorised_trained_answers_and_bare_probes(trained_demo):
    client, run_id = trained_demo["client"], trained_demo["run_id"]
    result, csv_path = client.predict(run_id, "", None, "", api_name="/probe")
    assert result["done"]
    rows = result["rows"]
    for row in rows:
        print(row["image"], "|", row["question"], "|", row["base_answer"], "|",
              row["finetuned_answer"], row["base_rouge_l"], row["finetuned_rouge_l"])
    trained_rows = [r for r in rows if r["trained"] and r["image"] == "training image"]
    assert [r["question"] for r in trained_rows] == [p["question"] for p in QA]
    for row in trained_rows:
        assert row["finetuned_rouge_l"] >= 0.8, row
        assert row["finetuned_verbatim"] is True, row
        assert row["base_rouge_l"] <= 0.3, row
        assert row["reference"] == next(p["answer"] for p in QA
                                        if p["question"] == row["question"])
    probes = [r for r in rows if not r["trained"]]
    assert len(probes) == 6  # three default probes, on both images
    for row in probes:
        assert row["reference"] is None and row["finetuned_rouge_l"] is None, row
        assert row["finetuned_verbatim"] is False and row["base_verbatim"] is False, row
    table = pd.read_csv(csv_path, encoding="utf-8-sig")
    assert len(table) == len(rows) and "finetuned_rouge_l" in table.columns


@pytest.mark.slow
def test_compare_streams_partial_answers_before_the_final_one(trained_demo):
    client, run_id, image = trained_demo["client"], trained_demo["run_id"], trained_demo["image"]
    job = client.submit(run_id, handle_file(str(image)), QA[0]["question"],
                        api_name="/compare")
    final = job.result(timeout=300)
    outputs = job.outputs()
    assert len(outputs) >= 3, outputs
    assert outputs[0]["done"] is False
    assert len(outputs[0]["finetuned"]) < len(final["finetuned"])
    assert final["done"] is True and outputs[-1] == final
    assert rouge_l(final["finetuned"], QA[0]["answer"]) >= 0.8
    # The plain call still returns just the final answers.
    answers = client.predict(run_id, handle_file(str(image)), QA[1]["question"],
                             api_name="/compare")
    assert set(answers) >= {"base", "finetuned"} and answers["done"] is True
    # No image (a teacher comparing a student's run): the run's training image.
    without = client.predict(run_id, None, QA[1]["question"], api_name="/compare")
    assert (without["base"], without["finetuned"]) == (answers["base"], answers["finetuned"])


@pytest.mark.slow
def test_follow_up_questions_keep_each_models_own_history(trained_demo):
    client, run_id, image = trained_demo["client"], trained_demo["run_id"], trained_demo["image"]
    first = client.predict(run_id, handle_file(str(image)), QA[0]["question"], "", "",
                           api_name="/compare_chat")
    assert first["scores"]["finetuned"]["verbatim"] is True
    second = client.predict(run_id, handle_file(str(image)), QA[1]["question"],
                            json.dumps(first["history"]), "", api_name="/compare_chat")
    history = second["history"]
    assert [q for q, _ in history["base"]] == [QA[0]["question"], QA[1]["question"]]
    assert history["base"][0][1] == first["base"]
    assert history["finetuned"][0][1] == first["finetuned"]
    assert history["finetuned"][1][1] == second["finetuned"]


@pytest.mark.slow
def test_timeline_has_one_entry_per_evaluation_with_the_questions_in_order(trained_demo):
    client, run_id = trained_demo["client"], trained_demo["run_id"]
    timeline = client.predict(run_id, api_name="/timeline")
    iters = [entry["iter"] for entry in timeline["entries"]]
    assert iters == list(range(0, trained_demo["max_iters"] + 1, EVERY)), iters
    questions = [p["question"] for p in QA]
    for entry in timeline["entries"]:
        assert [a["question"] for a in entry["answers"]] == questions
    last = timeline["entries"][-1]["answers"]
    assert all(rouge_l(a["answer"], p["answer"]) >= 0.8 for a, p in zip(last, QA)), last
    assert timeline["entries"][-1]["checkpoint"] is True
    first = timeline["entries"][0]["answers"]
    assert all(rouge_l(a["answer"], p["answer"]) <= 0.3 for a, p in zip(first, QA)), first


@pytest.mark.slow
def test_an_earlier_checkpoint_can_be_the_after_model(trained_demo):
    client, run_id, image = trained_demo["client"], trained_demo["run_id"], trained_demo["image"]
    earlier = f"iter_{trained_demo['max_iters'] - EVERY}"
    answer = client.predict(run_id, handle_file(str(image)), QA[0]["question"], "", earlier,
                            api_name="/compare_chat")
    assert answer["done"] and answer["finetuned"]
    # Attached straight from the checkpoint: no pth_to_hf run for it.
    assert (trained_demo["run_dir"] / f"adapters_{earlier}" / "projector").is_dir()
    assert not (trained_demo["run_dir"] / f"convert_{earlier}.log").exists()


@pytest.mark.slow
def test_adapters_read_from_the_checkpoint_equal_pth_to_hf_output(trained_demo):
    """What compare attaches (adapters_iter_N, from iter_N.pth) holds the very
    tensors `xtuner convert pth_to_hf` wrote for the same checkpoint."""
    client, run_id, image = trained_demo["client"], trained_demo["run_id"], trained_demo["image"]
    client.predict(run_id, handle_file(str(image)), QA[0]["question"], "", "final",
                   api_name="/compare_chat")
    quick = trained_demo["run_dir"] / f"adapters_iter_{trained_demo['max_iters']}"
    converted = trained_demo["run_dir"] / "hf_finetuned"
    for part in ("llm_adapter", "visual_encoder_adapter"):
        ours, theirs = _tensors(quick / part), _tensors(converted / part)
        assert ours.keys() == theirs.keys() and ours
        assert all(ours[k].float().equal(theirs[k].float()) for k in ours), part
        ours_cfg = json.loads((quick / part / "adapter_config.json").read_text())
        theirs_cfg = json.loads((converted / part / "adapter_config.json").read_text())
        for key in ("r", "lora_alpha", "bias", "task_type"):
            assert ours_cfg[key] == theirs_cfg[key], (part, key)
        assert sorted(ours_cfg["target_modules"]) == sorted(theirs_cfg["target_modules"])
    ours, theirs = _tensors(quick / "projector"), _tensors(converted / "projector")
    assert ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in theirs)


def _tensors(folder):
    """A saved model's weights, safetensors or (pth_to_hf's default) .bin."""
    import torch
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    assert len(files) == 1, files
    if files[0].suffix == ".safetensors":
        return load_file(str(files[0]))
    return torch.load(str(files[0]), map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_exported_archive_loads_with_plain_xtuner_chat(trained_demo, tmp_path):
    client, run_id = trained_demo["client"], trained_demo["run_id"]
    result, archive = client.predict(run_id, "", api_name="/export")
    elsewhere = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(elsewhere)
    folder = elsewhere / run_id
    command = (folder / "chat_command.txt").read_text().split()
    assert command[:2] == ["xtuner", "chat"] and command == result["command"].split()
    for part in ("projector", "llm_adapter", "visual_encoder_adapter"):
        assert (folder / "llava" / part).is_dir()
    # Only what the archive carries: no studio folder on the path.
    env = {**os.environ, "PYTHONPATH": str(folder / "studio_fix"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    # `xtuner chat` is `python -m xtuner.tools.chat`; fp32 because this is a CPU.
    argv = [sys.executable, "-m", "xtuner.tools.chat", *command[2:], "--torch-dtype", "fp32"]
    log = tmp_path / "chat.log"
    with open(log, "wb") as out:
        process = subprocess.run(argv, cwd=folder, env=env, input=(
            f"{QA[0]['question']}\n\nEXIT\n\n").encode(), stdout=out,
            stderr=subprocess.STDOUT, timeout=300, start_new_session=True)
    text = log.read_text(errors="replace")
    assert process.returncode == 0, text[-3000:]
    assert "Load projector from llava" in text, text[-3000:]
    # Between the first prompt and the next one: warnings, then the streamed answer.
    answer = text.split(">>> ", 1)[1].split("double enter", 1)[0]
    assert QA[0]["answer"] in answer, text[-3000:]
