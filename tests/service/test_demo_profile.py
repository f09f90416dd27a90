"""The embedded demo profile: built offline on CPU, cached, and it behaves like
the lesson's pretrain-stage model (answers any question with a caption)."""
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch: 2-core CI machines

import pytest
import torch
from rouge_score import rouge_scorer

import backend.xtuner.trainer_side.patches  # noqa: F401  (InternLM2 generation fix)
from backend.models.demo.pretrain import DEMO_IMAGES, load_image
from backend.models.demo.build import MANIFEST, ensure_demo_models
from tests.support.demo_models import recorded_build

pytestmark = pytest.mark.processes

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The build the slow tests share and the progress it reported; a build of
    its own when the shared one was made without a record."""
    recorded = recorded_build()
    if recorded is not None:
        cache, seen = recorded
        return cache, ensure_demo_models(cache), seen
    cache = tmp_path_factory.mktemp("demo_cache")
    seen = []
    paths = ensure_demo_models(cache, lambda fraction, message: seen.append((fraction, message)))
    return cache, paths, seen


def test_build_reports_progress_and_writes_manifest(built):
    cache, paths, seen = built
    fractions = [f for f, _ in seen]
    assert all(0.0 <= f <= 1.0 for f in fractions) and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in seen)
    manifest = json.loads((cache / MANIFEST).read_text())
    assert manifest["build_version"] >= 1
    assert paths.pretrained_pth.name == "iter_2181.pth" and paths.pretrained_pth.is_file()


def test_folders_load_like_the_real_models(built):
    from transformers import (AutoModelForCausalLM, AutoTokenizer, CLIPImageProcessor,
                              CLIPVisionModel)

    _, paths, _ = built
    llm = AutoModelForCausalLM.from_pretrained(str(paths.llm), trust_remote_code=True)
    assert type(llm).__name__ == "InternLM2ForCausalLM"
    tok = AutoTokenizer.from_pretrained(str(paths.llm), trust_remote_code=True)
    clip = CLIPVisionModel.from_pretrained(str(paths.visual_encoder))
    assert clip.config.num_hidden_layers >= 2  # LLaVA reads hidden layer -2
    proc = CLIPImageProcessor.from_pretrained(str(paths.visual_encoder))
    pixels = proc.preprocess(load_image("coffee"), return_tensors="pt")["pixel_values"]
    assert pixels.shape[-1] == clip.config.image_size
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>"


def test_tokenizer_round_trips_and_has_single_chat_tokens(built):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(built[1].llm), trust_remote_code=True)
    for text in ["What is the equipment in the image?", "请描述一下这张照片。", "naïve café 🙂 x=42"]:
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text and tok.unk_token_id not in ids
    assert len(tok.encode("<|im_end|>", add_special_tokens=False)) == 1
    assert len(tok.encode("<|im_start|>", add_special_tokens=False)) == 1
    assert tok.encode("hi")[0] == tok.bos_token_id  # xtuner chat relies on it


def test_second_call_is_a_cache_hit(built):
    cache, paths, _ = built
    stamp = (cache / MANIFEST).stat().st_mtime
    started = time.monotonic()
    again = ensure_demo_models(cache)
    assert time.monotonic() - started < 2.0
    assert again == paths and (cache / MANIFEST).stat().st_mtime == stamp


def _answer(model, tok, proc, image, question):
    """Greedy answer, the way `xtuner chat` builds a LLaVA prompt."""
    from xtuner.dataset.utils import expand2square
    from xtuner.model.utils import prepare_inputs_labels_for_multimodal
    from xtuner.utils import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX, PROMPT_TEMPLATE

    image = expand2square(image, tuple(int(x * 255) for x in proc.image_mean))
    pixels = proc.preprocess(image, return_tensors="pt")["pixel_values"]
    prompt = PROMPT_TEMPLATE.internlm2_chat["INSTRUCTION"].format(
        input=DEFAULT_IMAGE_TOKEN + "\n" + question)
    before, after = prompt.split(DEFAULT_IMAGE_TOKEN)
    ids = tok.encode(before) + [IMAGE_TOKEN_INDEX] + tok.encode(after, add_special_tokens=False)
    with torch.no_grad():
        hidden = model.visual_encoder(pixels, output_hidden_states=True).hidden_states
        feats = model.projector(hidden[model.visual_select_layer][:, 1:])
        inputs = prepare_inputs_labels_for_multimodal(
            llm=model.llm, input_ids=torch.tensor([ids]), pixel_values=feats)
        stop = [tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")]
        out = model.llm.generate(**inputs, max_new_tokens=40, do_sample=False,
                                 eos_token_id=stop, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0], skip_special_tokens=True).strip()


def test_base_model_only_captions(built):
    from transformers import (AutoModelForCausalLM, AutoTokenizer, CLIPImageProcessor,
                              CLIPVisionModel)
    from xtuner.model import LLaVAModel

    _, paths, _ = built
    tok = AutoTokenizer.from_pretrained(str(paths.llm), trust_remote_code=True)
    model = LLaVAModel(
        llm=AutoModelForCausalLM.from_pretrained(str(paths.llm), trust_remote_code=True),
        visual_encoder=CLIPVisionModel.from_pretrained(str(paths.visual_encoder)),
        freeze_llm=True, freeze_visual_encoder=True, use_activation_checkpointing=False,
        pretrained_pth=str(paths.pretrained_pth)).eval()
    proc = CLIPImageProcessor.from_pretrained(str(paths.visual_encoder))
    rouge = rouge_scorer.RougeScorer(["rougeL"])
    captions = [caption for _, _, caption in DEMO_IMAGES]
    # The lesson's "before finetune": whatever is asked, a caption comes back.
    for question, true_answer in [
        ("What is the equipment in the image?", "She has a white space helmet and a radio headset."),
        ("How many people are in the picture?", "There is exactly one person in this picture."),
    ]:
        reply = _answer(model, tok, proc, load_image("astronaut"), question)
        best = max(rouge.score(c, reply)["rougeL"].fmeasure for c in captions)
        assert best >= 0.6, f"not caption-like: {reply!r}"
        assert rouge.score(true_answer, reply)["rougeL"].fmeasure <= 0.3, reply
