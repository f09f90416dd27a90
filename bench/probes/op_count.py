"""How many PyTorch operator calls a training step makes, on the CPU.

Batch-1 steps on the H200 are CPU-dispatch bound (bench/RESULTS.md, profile):
their time follows the number of operator calls, which does not depend on the
models' width. So the effect of a recipe change on that count can be measured
here, with no GPU: narrow models of the real depth (24 LLM and 24 CLIP
layers), the app's rendered config (fp32, no activation checkpointing), and
bench/suite/step_profile.py over a few steps. Each variant is config lines appended
after the rendered ones (bench-only constants, no user text).

    python bench/probes/op_count.py            # all variants, about 3 minutes each
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

VARIANTS = {
    "lesson LoRA shapes": [],
    "no LoRA on CLIP": ["model['visual_encoder_lora'] = None"],
    "LoRA dropout 0": ["model['llm_lora']['lora_dropout'] = 0.0",
                       "model['visual_encoder_lora']['lora_dropout'] = 0.0"],
    "no LoRA on CLIP, dropout 0": ["model['visual_encoder_lora'] = None",
                                   "model['llm_lora']['lora_dropout'] = 0.0"],
}


def count(work: Path, name: str, lines: list[str], paths, seq_len: int) -> dict:
    from bench.suite import flows

    out = work / name.replace(" ", "_").replace(",", "")
    out.mkdir(parents=True, exist_ok=True)
    ctx = flows.Context(paths=paths, work=out / "work", out=out, tiny=True,
                        started=time.monotonic(), budget_s=900, seq_len=seq_len)
    ctx.convert = False
    # 6 x 12 = 72 steps: the warm-up needs 2 (warmup_ratio x steps).
    run = flows.app_flow(ctx, "lesson", 12, profile="6:6", answer=False,
                         config_lines=("model['use_activation_checkpointing'] = False",
                                       *lines))
    summary = json.loads((out / "profile_lesson" / "summary.json").read_text())
    return {"variant": name, "train_rc": run["train_rc"],
            "aten_calls_per_step": summary["aten_calls_per_step"],
            "cpu_wall_s_per_step": summary["wall_s_per_step"]}


def real_depth_models(folder: Path):
    """Narrow models of the real depth (24 LLM and 24 CLIP layers) on the CPU: a
    launch-bound step's host work depends on the depth, not the width."""
    from bench.suite import build_models as bm
    from bench.suite import flows
    from bench.suite.fixtures import CORPUS

    flows.use_tiny_sizes()
    bm.INTERNLM2_1_8B.update(num_hidden_layers=24)
    bm.CLIP_L_336.update(num_hidden_layers=24)
    paths, _ = bm.build_all(folder, CORPUS, "cpu")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/studio-op-count"))
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    from bench.suite.fixtures import seq_len

    paths = real_depth_models(args.work / "models")
    rows = [count(args.work, name, VARIANTS[name], paths, seq_len(paths))
            for name in args.variants]
    base = rows[0]["aten_calls_per_step"]
    print("| variant | operator calls per step | vs first |\n|---|---|---|")
    for row in rows:
        print(f"| {row['variant']} | {row['aten_calls_per_step']} "
              f"| {row['aten_calls_per_step'] / base:.2f} |")
    (args.work / "op_count.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
