"""A CPU proxy for the fast recipe's outcome check: which batch / lr / warm-up
reproduces the six trained answers in one epoch of 6 x 200 samples.

On the H200 (bench/RESULTS.md) the outcome on random real-size models followed
the number of optimizer steps: 1,200 steps at batch 1 reproduced 5 of 6
answers, 75 steps at batch 16 one answer for every question, and larger lrs
collapsed. Device time is scarce, so this runs the same experiment here with the
models shrunk to CPU size but the real sequence (576 image tokens, then the
question), the lesson's LoRA shapes and the app's own config, training and
chat code. Guidance for which variants to time on a GPU; never a claim.

    python bench/proxy_explore.py --out bench/results/proxy b1:lr2e-4 b16:lr2e-4 b16:lr8e-4:wu0.3
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import build_models as bm  # noqa: E402
from bench import procs  # noqa: E402
from bench.run_bench import CORPUS, MAX_NEW_TOKENS, QA, base_env, make_dataset  # noqa: E402

PROXY_LLM = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=2048)
PROXY_CLIP = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                  num_attention_heads=2, image_size=336, patch_size=14, projection_dim=64)
# The lesson's LoRA ratios (alpha = r/2 on the LLM, r/4 on CLIP) at ranks in
# proportion to the shrunk widths: r=512 on a 256-wide model would cost 4x the
# model itself.
PROXY_LORA = dict(llm_lora_r=64, llm_lora_alpha=32, visual_lora_r=16, visual_lora_alpha=4)
PASS_ROUGE_L = 0.9


def variant_updates(spec: str) -> dict:
    """"b16:lr8e-4:wu0.3" -> TrainOptions updates (batch, lr, warm-up ratio)."""
    keys = {"b": ("batch_size", int), "lr": ("lr", float), "wu": ("warmup_ratio", float)}
    updates = {}
    for part in spec.split(":"):
        prefix = "lr" if part.startswith("lr") else "wu" if part.startswith("wu") else part[:1]
        if prefix not in keys:
            raise ValueError(f"variant {spec!r}: parts are bN, lrX, wuX")
        name, kind = keys[prefix]
        updates[name] = kind(part[len(prefix):])
    return updates


def run_variant(paths, spec: str, work: Path, out: Path, repeats: int) -> dict:
    from backend import dataset as dataset_rules
    from backend.chat import ChatModels, Dialogue
    from backend.checkpoint_adapters import write_adapters
    from backend.jobs import latest_checkpoint
    from backend.scoring import rouge_l
    from backend.training import with_usable_warmup
    from backend.xtuner_config import TrainConfig, TrainOptions, train_command, write_configs

    run = work / spec.replace(":", "_")
    shutil.rmtree(run, ignore_errors=True)
    data, image, questions = make_dataset(run / "data", repeats)
    # Evaluation passes only before and after training; one checkpoint, at the end.
    options = TrainOptions().with_updates(
        {**PROXY_LORA, **variant_updates(spec), "evaluation_freq": 100_000,
         "save_steps": 100_000})
    steps = dataset_rules.iterations_for(6 * repeats, options.batch_size, options.epochs)
    options = with_usable_warmup(options, steps)
    config = TrainConfig(llm_path=paths.llm, visual_encoder_path=paths.visual_encoder,
                         pretrained_pth=paths.pretrained_pth, data_file=data, image_file=image,
                         questions_file=questions, work_dir=run, options=options, device="cpu")
    write_configs(config)
    train = procs.run(train_command(config), base_env(1), out / f"{run.name}.log",
                      timeout_s=7200)
    result = {"spec": spec, "steps": steps, "samples": 6 * repeats, "train_rc": train.rc,
              "train_s": round(train.seconds, 1), "stats": procs.train_stats(train)}
    checkpoint = latest_checkpoint(run / "train")
    if train.rc != 0 or checkpoint is None:
        return result
    write_adapters(checkpoint, run / "adapters", llm_path=paths.llm,
                   visual_encoder_path=paths.visual_encoder,
                   llm_lora_alpha=options.llm_lora_alpha,
                   visual_lora_alpha=options.visual_lora_alpha)
    chat = ChatModels(paths, "cpu")
    chat.load()
    chat.attach("run", run / "adapters")
    answers = []
    for question, reference in QA:
        texts = [""]
        for texts, _done in chat.stream_many([(Dialogue("run", str(image)), question)]):
            pass
        answers.append({"question": question, "answer": texts[0],
                        "rouge_l": round(rouge_l(texts[0], reference), 3)})
    chat.unload()
    result["answers"] = answers
    result["reproduced"] = sum(a["rouge_l"] >= PASS_ROUGE_L for a in answers)
    result["min_rouge_l"] = min(a["rouge_l"] for a in answers)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="bN:lrX[:wuX], e.g. b16:lr8e-4:wu0.3")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/studio-proxy"))
    parser.add_argument("--repeats", type=int, default=200, help="6 conversations x REPEATS")
    args = parser.parse_args()
    for spec in args.variants:
        variant_updates(spec)  # refuse a bad spec before the slow part
    bm.INTERNLM2_1_8B.update(PROXY_LLM)
    bm.CLIP_L_336.update(PROXY_CLIP)
    args.out.mkdir(parents=True, exist_ok=True)
    paths, build_s = bm.build_all(args.work / "models", CORPUS, "cpu",
                                  reuse=(args.work / "models").is_dir())
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "argv": sys.argv,
            "llm": PROXY_LLM, "clip": PROXY_CLIP, "lora": PROXY_LORA,
            "max_new_tokens": MAX_NEW_TOKENS,
            "build_s": round(build_s, 1)}
    for spec in args.variants:
        result = run_variant(paths, spec, args.work, args.out, args.repeats)
        name = spec.replace(":", "_")
        (args.out / f"proxy_{name}.json").write_text(
            json.dumps({"meta": meta, **result}, indent=1, default=str))
        print(spec, "steps", result["steps"], "reproduced", result.get("reproduced"),
              "of 6, min ROUGE-L", result.get("min_rouge_l"), "train s", result["train_s"],
              flush=True)


if __name__ == "__main__":
    main()
