"""Benchmark: the lesson's plain xtuner CLI flow vs the app's code path.

    python3 bench/run_bench.py --phase cli --out OUT      # (a) the CLI flow
    python3 bench/run_bench.py --phase app --out OUT      # (b) app: fast + lesson recipe
    python3 bench/run_bench.py --phase lesson_full --out OUT [--resume]
        # the lesson recipe's whole 1,200 steps and its outcome, over two calls
    python3 bench/run_bench.py --report OUT1 OUT2         # -> bench/RESULTS.md

Each phase builds the random real-size models first (seeded: identical in
both phases). See bench/README.md for what is measured and how.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.suite.build_models import build_all  # noqa: E402

from bench.suite.fixtures import CORPUS, LESSON_SAMPLES, QA, seq_len  # noqa: E402


def save(out: Path, name: str, data: dict) -> None:
    (out / name).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")


def gpu_info() -> dict:
    import torch
    import transformers
    import xtuner

    info = {"torch": torch.__version__, "transformers": transformers.__version__,
            "xtuner": xtuner.__version__, "python": sys.version.split()[0]}
    try:
        import bitsandbytes
        info["bitsandbytes"] = bitsandbytes.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_total_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


def side_by_side(ctx, repeats: int, fast_repeats: int, warm_trainer: bool = False) -> dict:
    """Both flows' per-step and fixed costs in one call on one GPU (issue 18's
    ratio; both whole flows outlast a 10-minute call). The CLI flow first,
    alone; when its `xtuner train` has ended, the app's fast run (chat models
    warm, both answers) while the CLI converts on the other half of the cores;
    the CLI's chats wait until the app's run is over (so the GPU is never
    shared). Each flow's 1,200-sample figure adds the steps it did not run at
    its own measured s/iter (bench/report)."""
    import dataclasses
    import os
    import threading

    from bench.suite import flows

    cores = sorted(os.sched_getaffinity(0))
    half = len(cores) // 2
    cli_ctx = dataclasses.replace(ctx, cpus=",".join(map(str, cores[half:])))
    if half:
        os.sched_setaffinity(0, cores[:half])  # this process and the app's trainer
    trained, app_done, cli = threading.Event(), threading.Event(), {}
    thread = threading.Thread(target=lambda: cli.update(flows.cli_flow(
        cli_ctx, repeats, trained=trained, before_chat=app_done)))
    thread.start()
    trained.wait()
    ctx.convert = False
    started = time.monotonic() - ctx.started
    try:
        app = flows.app_flow(ctx, "fast", fast_repeats, warm_chat=True,
                             warm_trainer=warm_trainer)
    finally:
        app_done.set()
    app["started_after_s"] = round(started, 1)
    thread.join()
    return {"cli": cli, "app_fast": app,
            "cores": {"app": cores[:half], "cli": cli_ctx.cpus}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=["cli", "app", "fast", "lesson_full", "compare",
                                            "side_by_side"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/studio-bench"))
    parser.add_argument("--repeats", type=int, default=10, help="lesson-recipe runs: 6 x N samples")
    parser.add_argument("--fast-repeats", type=int, default=200)
    parser.add_argument("--budget-s", type=float, default=560)
    parser.add_argument("--fast-variants", default="",
                        help='phase fast: comma-separated variants, e.g. "b4:lr2e-4,b2"')
    parser.add_argument("--models", type=Path,
                        help="reuse models another process built there (bench/device/explore.sh)")
    parser.add_argument("--save-steps", type=int, default=150,
                        help="lesson_full: checkpoint every N steps (the next call resumes)")
    parser.add_argument("--stop-before-end-s", type=float, default=150,
                        help="lesson_full: ask the trainer to save and stop this long "
                             "before the budget ends (0: never)")
    parser.add_argument("--resume", action="store_true",
                        help="lesson_full: continue from the last checkpoint in --work")
    parser.add_argument("--profile", default="",
                        help='phase fast: "START:STEPS" torch.profiler over those steps')
    parser.add_argument("--train-only", action="store_true",
                        help="phase fast: time the training only (no answers, no outcome)")
    parser.add_argument("--checkpoint", type=Path,
                        help="phase compare: a fast-recipe run's iter_N.pth to answer with")
    parser.add_argument("--warm-chat", action="store_true",
                        help="phase fast: chat models loaded before the run starts, as the "
                             "app holds them")
    parser.add_argument("--warm-trainer", action="store_true",
                        help="phases fast and side_by_side: the app's train step goes to a "
                             "process whose imports were done before the run (--warm-trainers)")
    parser.add_argument("--tiny", action="store_true", help="CPU plumbing check, tiny models")
    parser.add_argument("--report", nargs="+", type=Path)
    args = parser.parse_args()
    if args.report:
        from bench.report.write import write_report
        print(write_report(args.report, REPO / "bench" / "RESULTS.md"))
        return
    from bench.suite import flows

    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    device = "cpu" if args.tiny else "cuda"
    if args.tiny:
        flows.use_tiny_sizes()
    paths, build_s = build_all(args.models or args.work / "models", CORPUS, device,
                               reuse=args.models is not None)
    meta = {"phase": args.phase, "build_s": round(build_s, 1), "seq_len": seq_len(paths),
            "argv": sys.argv, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            **gpu_info()}
    print(f"models built in {build_s:.1f} s; longest sample {meta['seq_len']} LLM tokens",
          flush=True)
    results = {"meta": meta}
    results_file = f"results_{args.phase}{'_resumed' if args.resume else ''}.json"
    save(args.out, results_file, results)
    ctx = flows.Context(paths=paths, work=args.work, out=args.out, tiny=args.tiny,
                        started=started, budget_s=args.budget_s, seq_len=meta["seq_len"])
    if args.phase == "cli":
        results["cli"] = flows.cli_flow(ctx, args.repeats)
    elif args.phase == "side_by_side":
        results.update(side_by_side(ctx, args.repeats, args.fast_repeats, args.warm_trainer))
    elif args.phase == "compare":  # Compare at real size, models warm, vs xtuner chat
        from backend.xtuner.recipes import FAST
        results["compare"] = flows.compare_timing(ctx, args.checkpoint, FAST.options)
    elif args.phase == "lesson_full":
        # 1,200 steps at ~0.54 s outlast one 10-minute call: each call trains
        # until near its budget, then stops as the app's Stop button does
        # (a checkpoint at that very step), and the next call resumes; the
        # outcome check runs in the resumed calls. ctx.convert off, the
        # outcome is the point; no evaluation passes (they change no weight).
        ctx.convert = False
        recipe = "lesson" if args.tiny else flows.lesson_without_evaluation(ctx)
        results["lesson_full"] = flows.app_flow(
            ctx, recipe, LESSON_SAMPLES // len(QA), save_steps=args.save_steps,
            resume=args.resume, answer=args.resume, stop_before_end_s=args.stop_before_end_s)
    elif args.phase == "fast":  # fast-recipe variants only, no pth_to_hf
        ctx.convert = False
        for spec in [x for x in args.fast_variants.split(",") if x]:
            name = flows.fast_variant(ctx, spec)
            # Start-up, some steps, save (+ chat load and answers): a run with
            # less left than that measures nothing (answering runs need at
            # least 170 s).
            if ctx.left() < (60 if args.train_only else 170):
                results[name] = {"skipped": f"only {ctx.left():.0f} s of the call left"}
                continue
            try:
                results[name] = flows.app_flow(ctx, name, args.fast_repeats,
                                               profile=args.profile,
                                               answer=not args.train_only,
                                               warm_chat=args.warm_chat,
                                               warm_trainer=args.warm_trainer)
            except Exception as error:
                import traceback
                traceback.print_exc()
                results[name] = {"error": f"{type(error).__name__}: {error}"}
            save(args.out, results_file, results)
    else:
        for name, recipe, repeats in [("app_fast", "fast", args.fast_repeats),
                                      ("app_lesson", "lesson", args.repeats),
                                      ("app_fast_nockpt", "fast_nockpt", args.fast_repeats)]:
            if name == "app_fast_nockpt" and ctx.left() < 200:
                results[name] = {"skipped": f"only {ctx.left():.0f} s of the call left"}
                continue
            try:
                results[name] = flows.app_flow(ctx, recipe, repeats)
            except Exception as error:  # keep what the other flows measured
                import traceback
                traceback.print_exc()
                results[name] = {"error": f"{type(error).__name__}: {error}"}
            save(args.out, results_file, results)
    save(args.out, results_file, results)
    print(json.dumps(results, indent=1, default=str)[-6000:])


if __name__ == "__main__":
    main()
