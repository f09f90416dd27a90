"""results_*.json (from the device runs) -> bench/RESULTS.md."""
from __future__ import annotations

import json
from pathlib import Path

from bench.report.compile import compile_section
from bench.report.explore import THRESHOLD, explore_section, load_variants
from bench.report.launch import launch_section
from bench.report.lesson_full import lesson_full_section, partial_run_line
from bench.report.multi_gpu import multi_gpu_section
from bench.report.pace import pace_section
from bench.report.profile import profile_section

RESULTS = Path(__file__).resolve().parents[1] / "results"

FULL = 1200  # the lesson's samples: 6 conversations x 200 repeats, batch 1 = iterations


def _load(dirs: list[Path]) -> dict:
    merged: dict = {}
    for folder in dirs:
        for path in sorted(folder.glob("results_*.json")):
            data = json.loads(path.read_text())
            merged[f"meta_{data['meta']['phase']}"] = data["meta"]
            merged.update({k: v for k, v in data.items() if k != "meta"})
    return merged


def _f(value, digits=1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _full(flow: dict) -> float | None:
    """End to end, extrapolated to the lesson's 1,200 samples at the measured s/iter."""
    if not flow or "end_to_end_s" not in flow:
        return None
    train = flow["train"]
    batch = flow.get("batch_size", 1)
    done = train["iters"] * batch
    return flow["end_to_end_s"] + (FULL - done) / batch * train["s_per_iter"]


def write_report(dirs: list[Path], target: Path) -> str:
    r = _load(dirs)
    cli, lesson, fast = r.get("cli", {}), r.get("app_lesson", {}), r.get("app_fast", {})
    meta = r.get("meta_app") or r.get("meta_cli") or {}
    cli_full, lesson_full, fast_full = _full(cli), _full(lesson), _full(fast)
    rows = []
    for name, flow, full in (("CLI, lesson recipe", cli, cli_full),
                             ("app, lesson recipe", lesson, lesson_full),
                             ("app, fast recipe of session 1 (batch 16)", fast, fast_full),
                             ("app, fast, lr 1e-3, 4 workers", r.get("fast_lr0.001", {}),
                              _full(r.get("fast_lr0.001", {}))),
                             ("app, fast, lr 2e-3, 4 workers", r.get("fast_lr0.002", {}),
                              _full(r.get("fast_lr0.002", {})))):
        train = flow.get("train", {})
        if not train:
            rows.append(f"| {name} | {flow.get('error') or flow.get('skipped') or 'not run'} "
                        "| | | | | | | |")
            continue
        ckpt = flow.get("checkpoint") or {}
        rows.append(
            f"| {name} | {flow.get('batch_size', 1)} | {train.get('iters')} "
            f"| {_f(train.get('s_per_iter'), 3)} | {_f(train.get('first_iter_s'))} "
            f"| {_f(train.get('peak_mib', 0) / 1024, 2)} | {_f(ckpt.get('gib'), 2)} "
            f"| {_f(flow.get('end_to_end_s'))} | {_f(full)} |")
    explore_memory = [v for v in load_variants(RESULTS / "explore")
                      if v["train"].get("peak_mib")]
    # The whole-length batch-1 run whose other costs the pace probes add to.
    batch1 = next((v for v in load_variants(RESULTS / "explore")
                   if v.get("recipe") == "fast_b1_lr2e-4_nockpt"), None)
    ratio = lambda a, b: None if a is None or not b else a / b  # noqa: E731
    s_ratio = ratio(lesson.get("train", {}).get("s_per_iter"), cli.get("train", {}).get("s_per_iter"))
    text = f"""# Benchmark: the lesson's xtuner CLI flow vs the app (random-weight, real-size models)

Date {meta.get('date')}; GPU {meta.get('gpu')} ({meta.get('gpu_total_gib')} GiB); python
{meta.get('python')}, torch {meta.get('torch')}, transformers {meta.get('transformers')},
xtuner {meta.get('xtuner')}, bitsandbytes {meta.get('bitsandbytes')}. Models built on the GPU in
{meta.get('build_s')} s (InternLM2-1.8B shape, CLIP ViT-L/14-336 shape, random projector as
iter_2181.pth). Longest sample {meta.get('seq_len')} LLM tokens (576 of them image patches).
Commands: `python3 bench/run_bench.py --phase cli --out OUT --repeats 10` and
`python3 bench/run_bench.py --phase app --out OUT --repeats 10 --fast-repeats 200` and
`python3 bench/run_bench.py --phase fast --fast-variants lr1e-3,lr2e-3`, each in one device call
through `bench/device/device_run.sh` (see bench/README.md); the fast-recipe exploration below:
`bash bench/device/explore.sh SPEC...` (three device calls in session 2, one in session 4); session 4's
2-GPU run: `bash bench/device/multi_gpu_app.sh --gpus 0,1 --deepspeed deepspeed_zero2`; the lesson
recipe's full length and session 5's compile probes beside it: `bash bench/device/lesson_full_a.sh`
then at once `bash bench/device/lesson_full_b.sh` (two chained calls); this file:
`python3 bench/run_bench.py --report bench/results`.

| flow | batch | iters run | s/iter | to 1st iter (s) | peak GiB (mmengine) | checkpoint GiB | end to end (s), as run | end to end (s), 1,200 samples |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Extrapolation: the lesson-recipe runs trained 6 x 10 = 60 samples (batch 1); their 1,200-sample
figure adds (1,200 - 60) x their measured s/iter. The fast recipe ran the full 1,200 samples.
The CLI figure does NOT add the two evaluation passes the lesson's config would also run at
iterations 500 and 1,000 (each about as long as the after-training pass in the log), so the
ratios below are conservative.

| ratio | measured | target |
|---|---|---|
| app lesson / CLI, end to end (1,200 samples) | {_f(ratio(lesson_full, cli_full), 2)} | <= 0.8 |
| app lesson / CLI, s/iter | {_f(s_ratio, 3)} | <= 1.05 |
| app fast (session 1, batch 16) / CLI, end to end (1,200 samples) | {_f(ratio(fast_full, cli_full), 2)} | <= 0.2 |
| lesson recipe peak (GiB) | {_f(lesson.get('train', {}).get('peak_mib', 0) / 1024, 2)} | <= 24 |

## Steps (seconds)

CLI: `xtuner train` {_f(cli.get('train', {}).get('train_s'))}, pth_to_hf pretrain
{_f(cli.get('convert_pretrain_s'))} / finetuned {_f(cli.get('convert_finetuned_s'))}, `xtuner chat`
base {_chat(cli, 'base')}, finetuned {_chat(cli, 'finetuned')}.

{_app_steps('App, lesson recipe', lesson)}

{_app_steps('App, fast recipe of session 1 (batch 16)', fast)}

## Outcome check (greedy answers of the finetuned model to the 6 trained questions, ROUGE-L)

{_outcome('fast recipe of session 1 (batch 16), 1,200 samples', fast)}

{_outcome('fast recipe at lr 1e-3 (4 dataloader workers)', r.get('fast_lr0.001', {}))}

{_outcome('fast recipe at lr 2e-3 (4 dataloader workers)', r.get('fast_lr0.002', {}))}

{_outcome('lesson recipe, 60 samples only (not expected to reproduce yet)', lesson)}

CLI finetuned answer (60 samples) ROUGE-L {_f(cli.get('finetuned_rouge_l'), 2)}:
"{(cli.get('chat', {}).get('finetuned', {}) or {}).get('answer', '')[:200]}"

## Verdict against issue 5's targets

- Lesson recipe through the app: {_f(ratio(lesson_full, cli_full), 2)}x the CLI flow end to end at
  {_f(s_ratio, 3)}x its s/iter, peak {_f(lesson.get('train', {}).get('peak_mib', 0) / 1024, 1)} GiB: **met**
  (extrapolated from 60 samples, see above).
- Fast recipe: {_f(ratio(fast_full, cli_full), 2)}x the CLI flow end to end, but the outcome check
  **FAILS** on these random-weight models, and no variant tried so far passes it (next section).
  So "fast <= 0.2x with the outcome passing" is **NOT met**, and the app's default stays the
  lesson recipe (`--recipe lesson`; `--recipe fast` is there for those who want it). Since
  session 5 the app's fast recipe is the batch-1 bf16 one (no activation checkpointing), the
  variant that reproduced most answers: 5 of 6 at 0.36x the CLI flow (next section).
- **The lesson's own recipe does not pass the outcome check on these models either**: over its
  whole 1,200 steps (session 5, section below) it reproduces 4 of the 6 trained answers (min
  ROUGE-L 0.13). "As the lesson's recipe does" holds only with the real InternLM2-Chat-1.8B and
  iter_2181 weights, which cannot be downloaded here; on random weights the reference itself
  fails the check, so this acceptance point cannot be shown as written.
- 2-GPU run with `NPROC_PER_NODE=2` and DeepSpeed ZeRO-2 through the app: **met** (session 4,
  section below: the run ends `done`, both ranks in its log).

## Fast recipe: what reproduces the six trained answers (sessions 2 and 4)

Same data (6 questions x 200 repeats, one epoch), bf16 LoRA with the lesson's LoRA shapes;
`bench/device/explore.sh` ran several variants at once on the one GPU, so only their outcome counts here
(raw: bench/results/explore/). Call 4 ran on a 2-GPU host, two variants per GPU beside the
2-GPU app run; its JSONs did not come back (a call returns at most 8 files; the scripts now
pack one archive), so its rows are transcribed from the call's printed summary.

{explore_section(RESULTS / "explore")}

What this shows: on random weights the outcome follows the number of optimizer steps, not the
samples seen. 75 steps at batch 16 teach one answer for every question; 600 steps (batch 2)
reproduce two of six; 1,200 steps at batch 1 (the lesson's step count, bf16 instead of 4-bit)
reproduce five of six. Larger learning rates to make up for fewer steps collapse instead (lr
4e-4 at batch 4 or 8, 1e-3 and 2e-3 at batch 16), and a constant lr did not help. The question
is a few tokens after 576 identical image tokens; a random LLM has to learn to attend to it, and
that takes steps. The batch-1 bf16 run is not a fast recipe either: 0.263 s/iter alone on the
H200 (1,200 steps = 326 s of loop, 383 s to both answers), 0.36x the CLI flow end to end.

Session 4 tried what the earlier runs left open for fewer, larger steps: a 30% warm-up before a
4x lr (batch 16, lr 8e-4), Adam's beta2 at 0.95 (reacts sooner to growing gradients), LoRA+
(the B matrices at 16x the lr, batch 8). None reproduced a single answer: the answers mix
fragments of several trained answers, the sign of a model that has not separated the questions.
LoRA+ at 4x and batch 2 (`b2_lr2e-4_nockpt_lp4_killed.json`, cut off by the call's budget at
step 395 of 600) was still at loss 2.3-3.3 with gradient norms up to 30, where plain batch 2 at
that point trains smoothly. So within one epoch the step count cannot be traded for a larger lr
on these models, and the lesson's own recipe (next section) is no faster to converge.

## The lesson's own recipe over its full length (session 5)

The lesson's recipe (4-bit NF4 QLoRA, fp16 AMP, batch 1, xtuner's evaluation passes off: they
change no weight) on the same data, through the app's code path, over two chained device calls
(`bench/device/lesson_full_a.sh`, `bench/device/lesson_full_b.sh`: the second resumes from the first's
checkpoint on the still-warm machine). GPU 1 ran the compile probes below at the same time.
Raw: bench/results/lesson_full/.

{lesson_full_section(RESULTS / "lesson_full")}

What this shows: on random weights the lesson's own recipe, run to its end, reproduces 4 of the
6 trained answers: the training loss is down to a median 0.05, yet two questions still get
another question's answer (or a blend of two). So the issue's "as the lesson's recipe does" is
not what the lesson's recipe does on these models, and no recipe can be held to it here; the
batch-1 bf16 run (5 of 6, previous section) does at least as well as the reference. Session 4's
attempt at the same run (interval checkpoints only, so each call lost the steps after its last
save) {partial_run_line(RESULTS / "lesson_full_session4")} (raw:
bench/results/lesson_full_session4/). One more call this session trained to step 824 at
0.448 s/iter alone on GPU 0, then lost its checkpoint: the machine went back during the 30 s
between the calls.

## Where a fast-recipe step's time goes (session 4)

`run_bench.py --profile START:STEPS` wraps those steps in torch.profiler (bench/suite/step_profile.py;
raw tables: bench/results/profile/). Both ran on GPU 1 while GPU 0 trained the lesson recipe, so
their wall times are inflated by the shared CPU; the GPU-busy time and the launch counts are not.

{profile_section(RESULTS / "profile")}

What this shows: at batch 1 the GPU works 68 ms of each step; the rest is the CPU dispatching
about 48,000 PyTorch operator calls (7,300 kernels) per step, mostly LoRA's matmuls, autocast's
dtype copies of the fp32 adapters and dropout, over 24 LLM and 24 CLIP layers. A 1,200-step
batch-1 recipe (the only one that reproduced 5 of 6) would fit the 0.2x target if that overhead
went (CUDA graphs or torch.compile over fixed-length, padded batches): 1,200 x 0.068 s is about
80 s of GPU work, a lower bound for the loop. Session 5 tried that (next section): it does
not pay.

## Compiling the batch-1 recipe (session 5)

`Recipe.compile_mode` (bench variant parts `compile`, `cudagraphs`) on the batch-1 bf16 recipe
(lr 2e-4, no activation checkpointing), on GPU 1 beside the lesson run above (raw:
bench/results/compile/; the first-step column includes model loading, about 25 s).

{compile_section(RESULTS / "compile")}

What this shows: mmengine's own `compile` option cannot trace its train_step under torch 2.11,
so the recipe now compiles each transformer block in place (backend/xtuner/trainer_side/hooks.py
CompileBlocksHook; a CPU test checks names, loss and gradients against eager). CUDA graphs
over those blocks crash the trainer. The default mode trains, at 0.21 s/iter on a shared host
against 0.263 s eager alone (session 2), but its first step spends about 130 s compiling: over
1,200 steps the compile costs more than the at most ~60 s it saves, and the run it was part of
was cut off at step 769 (its iter_500 checkpoint reproduced 1 of 6, as uncompiled runs do that
early). So compilation is no way to a batch-1 recipe at 0.2x the CLI flow.

## Fewer operator calls per batch-1 step (session 5)

If a batch-1 step's time is dispatch, it follows the number of operator calls, and that can be
counted on a CPU. No LoRA on CLIP (frozen, so it needs no backward pass) removes 41% of them;
LoRA dropout 0 another few percent. Two 120-step probes side by side on the two GPUs of one host
(`EXPLORE_GPUS="0 1" EXPLORE_REPEATS=20 EXPLORE_TRAIN_ONLY=1 bash bench/device/explore.sh
b1:lr2e-4:nockpt b1:lr2e-4:nockpt:novis:drop0`; raw: bench/results/pace/) confirm it on the
H200. The end-to-end estimate puts 1,200 steps at the probe's pace on top of the other costs
(start-up, save, chat load and answers) of the whole-length batch-1 run of session 2 (section
above, 383 s).

{pace_section(RESULTS / "pace", batch1, cli_full) if batch1 else "No whole-length batch-1 run."}

What this shows: the step time follows the operator count (0.60x the s/iter for 0.56x the
calls), and the lean batch-1 recipe would take about 0.24x the CLI flow end to end: near the
0.2x target, not under it. Whether it still reproduces 5 of 6 answers (CLIP's LoRA cannot tell
the questions apart: all six share one image) is the next whole-length run to make.

## The 2-GPU run through the app (session 4)

`bench/suite/multi_gpu_app.py` runs the app's backend as app.py builds it (`build_services` with
`--gpus 0,1 --deepspeed deepspeed_zero2`), the DatasetStore, `TrainingService.start` and the
JobManager: torchrun with two processes and ZeRO-2, then both pth_to_hf steps on the DeepSpeed
checkpoint folder. Lesson recipe, on `nvidia-h200-x2`, in the same call as the four explore
variants of call 4 (so its times are not clean). Raw: bench/results/multi_gpu/ (run.log is the
run's own log).

{multi_gpu_section(RESULTS / "multi_gpu")}

## Launch probe on one GPU: DeepSpeed and torchrun (second session)

No 2-GPU machine was lent, so `bench/device/launch_probe.sh` ran the app's launch code paths with one
process: lesson recipe, 6 x 2 samples, the argv from backend/training/gpu.py (raw:
bench/results/launch/).

{launch_section(RESULTS / "launch")}

What this shows: mmengine 0.10.6 cannot load DeepSpeed 0.19.8 (it imports the 1-bit optimizers
DeepSpeed has since removed); with 0.16.9 both the lesson's 1-GPU DeepSpeed command and the
multi-GPU torchrun + ZeRO-2 shape train and save (the checkpoint is a folder). Without
DeepSpeed, DDP stops at the second iteration on parameters that get no gradient (most likely
the LoRA of the visual encoder's last layer: LLaVA reads the layer before it): the rendered CUDA
configs now set `find_unused_parameters = True`, not yet re-measured. Compare reads a DeepSpeed
checkpoint folder with xtuner's own loader (as pth_to_hf does); that too is not yet measured. (The 0.19.8 DDP row failed on this
probe's own warm-up, since fixed; the app stretches the warm-up itself.) The 2-GPU run itself
was made in session 4 (section above).

## Notes

- Random weights: the base (pretrain-only) model emits ids the 2,048-token BPE cannot decode, so
  its answers print as empty; both flows cap answers at 128 new tokens (`xtuner chat
  --max-new-tokens 128`, the app's MAX_NEW_TOKENS), as a random model never stops.
- The CLI baseline is the lesson's flow: the built-in finetune config with the lesson's edits
  (paths, batch_size 1, two evaluation questions, local evaluation image since the built-in URL
  hangs offline), `xtuner train`, `xtuner convert pth_to_hf` twice (the pretrain one with
  `--fp32`), `xtuner chat` twice. It ran with `PYTHONPATH=backend/xtuner/trainer_side/site:.` so our
  InternLM2 generation fix (backend/xtuner/trainer_side/patches.py) applies to its evaluation and chat, with
  STUDIO_MAP_NUM_PROC=32 (xtuner's own map processes, uncapped) and
  TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1.
- The app path = the rendered config + recipe (backend/xtuner/config.py, backend/xtuner/recipes.py),
  the train argv from backend/training/gpu.py, the app's subprocess env (8 OMP threads, the
  `--train-threads` setting), then resident ChatModels (backend/models/chat.py) attaching adapters
  written straight from iter_N.pth (backend/compare/adapters.py, identical tensors to
  pth_to_hf's; the pth_to_hf output gave the same answer). The two pth_to_hf steps were timed
  after the answers (the lesson-recipe run skipped them for time: the CLI timed the same
  commands). JobManager scheduling itself was not in the timed path.
- The lesson-recipe app run keeps xtuner's evaluation passes (the progress view shows them) but
  caps each answer at 64 tokens; the CLI's after-training pass generated 600 tokens for each of
  its two questions (164 s after the loop, including the 6.5 GiB save, against 65 s).
- The fast runs with lr 1e-3 / 2e-3 also had 4 dataloader workers: 0.70-0.72 s/iter against
  0.86 (data_time 0.2 s per step without workers). The default fast recipe now uses lr 2e-4
  with 4 workers: that exact combination was not run.

## Memory estimate (backend/training/memory.py) vs measured peak

{_memory(meta.get('seq_len', 619), lesson, fast, r.get('fast_lr0.001', {}), *explore_memory)}

The training formula was fixed before these runs from the issue's probe (14.6 GiB at batch 1 x
1,145 tokens, 41 GiB at batch 16), so the 619-token runs above are an independent check. The chat
formula gained one term after the second device call (loading an adapter briefly holds a
second copy); the third call's two chat peaks confirm it. Raw numbers: bench/results/*.json.
"""
    target.write_text(text, encoding="utf-8")
    return text


def _chat(flow: dict, name: str) -> str:
    c = (flow.get("chat") or {}).get(name) or {}
    return (f"{_f(c.get('seconds'))} ({_f(c.get('to_first_prompt_s'))} to its first prompt, "
            f"answer {_f(c.get('answer_s'))})")


def _app_steps(title: str, flow: dict) -> str:
    if "chat" not in flow:
        return f"{title}: {flow.get('error') or 'no answers'}"
    c = flow["chat"]
    return (f"{title}: train {_f(flow['train'].get('train_s'))}, adapters read straight from "
            f"iter_N.pth {_f(c.get('adapters_from_checkpoint_s'))}, chat models load + attach "
            f"{_f(c.get('load_attach_s'))}, both answers {_f(c.get('answers_s'))} (one loop); "
            f"then, off the path to the answers, pth_to_hf pretrain "
            f"{_f(flow.get('convert_pretrain_s'))} / finetuned {_f(flow.get('convert_finetuned_s'))}"
            f" (its adapters give the same answer: {flow.get('pth_to_hf_answer_same')}).")


def _outcome(title: str, flow: dict) -> str:
    outcome = flow.get("outcome")
    if not outcome:
        return f"{title}: not measured"
    lines = [f"{title}: min ROUGE-L {outcome['min_rouge_l']:.2f} "
             f"({'PASS' if outcome['min_rouge_l'] >= THRESHOLD else 'FAIL'}, "
             f"threshold {THRESHOLD})", ""]
    for a in outcome["answers"]:
        lines.append(f"- {a['question']} -> \"{a['answer'][:160]}\" ({a['rouge_l']:.2f})")
    return "\n".join(lines)


def _memory(seq_len: int, *flows: dict) -> str:
    """Estimates recomputed with the final backend/training/memory.py formulas."""
    from backend.training.memory import GIB, ModelDims, chat_bytes, training_bytes

    dims = ModelDims(2048, 8192, 24, 16, 8, 92544, 1024, 4096, 24, 336, 14)
    lines = ["| run | estimate GiB | measured GiB | error |", "|---|---|---|---|"]
    for flow in flows:
        if not flow.get("train", {}).get("peak_mib"):
            continue
        measured = flow["train"]["peak_mib"] / 1024
        est = training_bytes(dims, quantize_4bit=flow["recipe"] == "lesson",
                             batch_size=flow["batch_size"], seq_len=seq_len,
                             activation_checkpointing="nockpt" not in flow["recipe"]) / GIB
        lines.append(f"| train, {flow['recipe']}, batch {flow['batch_size']} x {seq_len} tokens "
                     f"| {est:.2f} | {measured:.2f} | {(est - measured) / measured:+.1%} |")
        if flow.get("chat_peak_gib"):
            cm = flow["chat_peak_gib"]
            ce = chat_bytes(dims, prompt_tokens=seq_len) / GIB
            lines.append(f"| resident chat (bf16) + 1 run's adapters, after {flow['recipe']} "
                         f"| {ce:.2f} | {cm:.2f} | {(ce - cm) / cm:+.1%} |")
    return "\n".join(lines)
