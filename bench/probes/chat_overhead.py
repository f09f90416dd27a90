"""A Compare token's CPU time per way of stepping the base model, on the CPU.

A 1.8B model's decoding step on an H200 is bound by the Python and operator
dispatch that launch its kernels (bench/RESULTS.md, issue 18: `xtuner chat`'s
128 tokens take about 37 ms each), and that cost depends on the model's
depth, not its width. So it can be compared here: an InternLM2 of the real
depth (24 layers, the real remote code) but 64 wide, LoRA on the five linear
layers of each block as xtuner puts it, a 600-token prompt, 128 greedy tokens:

    plain loop          ChatModels' loop on the model without peft
    generate+streamer   what `xtuner chat` runs (HF generate, a TextStreamer)
    peft, select each   the base through peft's disabled LoRA layers, adapters
                        switched before every token (Compare before the change)
    bare (switch)       the base as ChatModels steps it now (adapter_switch.py)

    python bench/probes/chat_overhead.py --tokenizer-from work/models/demo/llm
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

PROMPT_TOKENS, NEW_TOKENS = 600, 128


def build(tokenizer_dir: Path, folder: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from backend.models.demo.internlm2_folder import write_internlm2_config

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=True)
    sizes = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=24,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer),
                 max_position_embeddings=4096)
    config = write_internlm2_config(folder, tokenizer, sizes)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, trust_remote_code=True).eval()
    return model, tokenizer


def decode_ms(llm, prompt, before_step=None) -> float:
    """ChatModels._step's loop: ms per token after the prompt's pass."""
    import torch

    with torch.inference_mode():
        out = llm(input_ids=prompt, use_cache=True)
        past, ids = out.past_key_values, [int(out.logits[0, -1].argmax())]
        start = time.perf_counter()
        for _ in range(NEW_TOKENS - 1):
            model = before_step() if before_step else llm
            last = torch.tensor([[ids[-1]]])
            position = torch.tensor([[PROMPT_TOKENS + len(ids) - 1]])
            out = model(input_ids=last, past_key_values=past, position_ids=position,
                        use_cache=True)
            past = out.past_key_values
            ids.append(int(out.logits[0, -1].argmax()))
    return (time.perf_counter() - start) / (NEW_TOKENS - 1) * 1000


def generate_ms(llm, tokenizer, prompt) -> float:
    import torch
    from transformers import TextStreamer

    streamer = TextStreamer(tokenizer, skip_prompt=True)
    with torch.inference_mode(), contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        llm.generate(input_ids=prompt, max_new_tokens=NEW_TOKENS, do_sample=False,
                     min_new_tokens=NEW_TOKENS, streamer=streamer,
                     pad_token_id=tokenizer.pad_token_id)
    return (time.perf_counter() - start) / NEW_TOKENS * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer-from", type=Path, required=True,
                        help="an InternLM2 folder whose tokenizer to use (the demo's llm/)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch
    from peft import LoraConfig, get_peft_model

    from backend.models.adapter_switch import BASE, AdapterSwitch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        model, tokenizer = build(args.tokenizer_from, Path(folder))
    prompt = torch.randint(0, len(tokenizer), (1, PROMPT_TOKENS),
                           generator=torch.Generator().manual_seed(0))
    timings: dict[str, list[float]] = {}

    def timed(name, measure):
        timings.setdefault(name, []).append(measure())

    for _ in range(args.repeats):
        timed("plain loop", lambda: decode_ms(model, prompt))
        timed("generate+streamer", lambda: generate_ms(model, tokenizer, prompt))
    peft_model = get_peft_model(model, LoraConfig(
        r=8, target_modules=["wqkv", "wo", "w1", "w2", "w3"], lora_dropout=0.0)).eval()

    def select_each():
        peft_model.base_model.disable_adapter_layers()
        return peft_model

    switch = AdapterSwitch()
    for _ in range(args.repeats):
        timed("peft, select each", lambda: decode_ms(peft_model, prompt, select_each))
        switch.select(peft_model, None, BASE)
        timed("bare (switch)", lambda: decode_ms(peft_model, prompt,
                                                 lambda: switch.bare(peft_model)))
        switch.dress()
    for name, values in timings.items():
        print(f"{name:20s} {min(values):6.2f} ms/token (best of {len(values)})")


if __name__ == "__main__":
    main()
