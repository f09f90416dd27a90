"""Every GPU-only decision, checked without a GPU: rendered CUDA configs,
launch argument lists and environment, the memory check."""
import json
import sys
from pathlib import Path

import pytest

from backend.training.gpu import (GpuInfo, GpuSelectionError, Launch, choose_recipe, parse_nvidia_smi,
                         select_gpus)
from backend.training.memory import (GIB, MemoryCheckError, chat_bytes, check_fits,
                                dims_from_dirs, training_bytes)
from backend.xtuner.recipes import FAST, LESSON
from tests.support.cuda_configs import INTERNLM2_1_8B, cuda_config, load
from backend.xtuner.config import ConfigError, TrainConfig, train_command

H200 = [GpuInfo(0, "NVIDIA H200", 140 * GIB, 139 * GIB), GpuInfo(1, "NVIDIA H200", 140 * GIB,
                                                                  100 * GIB)]


# ---- rendered configs ------------------------------------------------------------
def test_lesson_recipe_keeps_nf4_qlora_amp_fp16_and_the_evaluation_hook(tmp_path):
    cfg = load(tmp_path, cuda_config(tmp_path, LESSON))
    quant = cfg.model.llm.quantization_config
    assert quant.load_in_4bit and quant.bnb_4bit_quant_type == "nf4"
    assert "AmpOptimWrapper" in str(cfg.optim_wrapper.type)
    assert cfg.optim_wrapper.dtype == "float16"
    assert cfg.model.llm_lora.r == 512 and cfg.model.llm_lora.lora_alpha == 256
    assert cfg.model.visual_encoder_lora.r == 64
    assert cfg.train_dataloader.batch_size == 1
    assert "QuestionsFileEvaluateChatHook" in str(cfg.custom_hooks[1].type)
    assert cfg.custom_hooks[1].max_new_tokens == 64
    assert [h.type.__name__ for h in cfg.custom_hooks[-3:]] == [
        "RankReportHook", "SaveOnStopHook", "LeanFinalCheckpointHook"]
    # Adam's state in every checkpoint but the final one (LeanFinalCheckpointHook).
    assert cfg.default_hooks.checkpoint.get("save_optimizer", True) is True


def test_fast_recipe_is_bf16_lora_without_4bit(tmp_path):
    cfg = load(tmp_path, cuda_config(tmp_path, FAST))
    assert "quantization_config" not in cfg.model.llm
    assert "bfloat16" in str(cfg.model.llm.torch_dtype)
    assert "AmpOptimWrapper" in str(cfg.optim_wrapper.type)
    assert cfg.optim_wrapper.dtype == "bfloat16"
    assert cfg.optim_wrapper.loss_scale == {"enabled": False}  # no GradScaler for bf16
    assert cfg.model.llm.attn_implementation == "sdpa"
    assert cfg.train_dataloader.batch_size == 1  # larger batches reproduced fewer answers
    assert cfg.model.use_activation_checkpointing is False
    assert cfg.model.llm_lora.r == 512  # same LoRA shapes as the lesson
    assert cfg.default_hooks.checkpoint.save_optimizer is False
    hooks = [str(hook.type) for hook in cfg.custom_hooks]
    assert not any("EvaluateChatHook" in hook for hook in hooks)  # no evaluation passes
    assert any("RankReportHook" in hook for hook in hooks)  # every rank names itself
    assert any("SaveOnStopHook" in hook for hook in hooks)  # and Stop saves where it stopped
    assert any("FrozenWeightsHook" in hook for hook in hooks)  # frozen weights in bf16


def test_recipe_and_quantization_must_agree(tmp_path):
    with pytest.raises(ConfigError):
        TrainConfig(**{**cuda_config(tmp_path, FAST).__dict__, "quantize_4bit": True})
    with pytest.raises(ConfigError):
        TrainConfig(**{**cuda_config(tmp_path, LESSON).__dict__, "device": "cpu",
                       "quantize_4bit": False})


def test_deepspeed_flag_in_the_train_command(tmp_path):
    config = cuda_config(tmp_path, LESSON, deepspeed="deepspeed_zero2")
    argv = train_command(config, python="python")
    assert argv[argv.index("--deepspeed") + 1] == "deepspeed_zero2"
    assert "--deepspeed" not in train_command(cuda_config(tmp_path, LESSON), python="python")
    with pytest.raises(ConfigError):
        cuda_config(tmp_path, LESSON, deepspeed="zero9")


# ---- GPU selection and launch --------------------------------------------------
def test_nvidia_smi_parsing_and_selection():
    gpus = parse_nvidia_smi("0, NVIDIA H200, 143771, 1000\n1, NVIDIA H200, 143771, 143000\n")
    assert [g.index for g in gpus] == [0, 1] and gpus[1].free_bytes == 143000 * 1024 ** 2
    assert [g.index for g in select_gpus(gpus)] == [1]          # most free memory
    assert [g.index for g in select_gpus(gpus, 2)] == [0, 1]
    assert [g.index for g in select_gpus(gpus, "1,0")] == [1, 0]
    assert [g.index for g in select_gpus(gpus, "all")] == [0, 1]
    for bad in (3, "2", "0,0", "x"):
        with pytest.raises(GpuSelectionError):
            select_gpus(gpus, bad)
    with pytest.raises(GpuSelectionError, match="No CUDA GPU"):
        select_gpus([])


def test_one_gpu_launch_is_plain_python_with_visible_device(tmp_path):
    launch = Launch((1,))
    argv = launch.train_argv(tmp_path / "c.py", tmp_path / "train", python="py")
    assert argv[:3] == ["py", "-m", "xtuner.tools.train"]
    env = launch.env()
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["NPROC_PER_NODE"] == "1"


def test_two_gpu_launch_is_xtuners_torchrun_with_deepspeed(tmp_path):
    launch = Launch((0, 1), deepspeed="deepspeed_zero2", master_port=29611)
    argv = launch.train_argv(tmp_path / "c.py", tmp_path / "train", python=sys.executable)
    assert argv[1:3] == ["-m", "torch.distributed.run"]
    assert "--nproc_per_node=2" in argv and "--nnodes=1" in argv
    assert "--master_port=29611" in argv
    assert argv[argv.index("--deepspeed") + 1] == "deepspeed_zero2"
    assert argv[-2:] == ["--launcher", "pytorch"]
    assert argv[argv.index("--master_port=29611") + 1].endswith("xtuner/tools/train.py")
    env = launch.env()
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1" and env["NPROC_PER_NODE"] == "2"
    assert env["PORT"] == "29611"
    with pytest.raises(GpuSelectionError):
        Launch((0,), deepspeed="zero9")


def test_auto_recipe_is_fast_only_where_it_fits():
    assert choose_recipe("auto", fits_fast=True) is FAST
    assert choose_recipe("auto", fits_fast=False) is LESSON
    assert choose_recipe("lesson", fits_fast=True) is LESSON
    with pytest.raises(GpuSelectionError):
        choose_recipe("turbo", fits_fast=True)


# ---- memory estimate and check -------------------------------------------------
def test_estimates_match_the_probe_within_15_percent():
    # Measured on an H200 (issue 5): lesson batch 1 x 1,145 tokens = 14.6 GiB,
    # fast batch 16 = 41 GiB (mmengine's memory:, max allocated).
    lesson = training_bytes(INTERNLM2_1_8B, quantize_4bit=True, batch_size=1, seq_len=1145)
    fast = training_bytes(INTERNLM2_1_8B, quantize_4bit=False, batch_size=16, seq_len=1145)
    assert abs(lesson / GIB - 14.6) / 14.6 < 0.15
    assert abs(fast / GIB - 41.0) / 41.0 < 0.15
    assert lesson < 24 * GIB  # InternStudio's 24 GB slice
    assert training_bytes(INTERNLM2_1_8B, quantize_4bit=False, batch_size=16, seq_len=1145,
                          activation_checkpointing=False) > fast
    two = training_bytes(INTERNLM2_1_8B, quantize_4bit=True, batch_size=1, seq_len=1145,
                         nproc=2, deepspeed="deepspeed_zero2")
    assert two < lesson  # ZeRO-2 shards grads and Adam moments


def test_memory_check_refuses_with_a_clear_message():
    need = training_bytes(INTERNLM2_1_8B, quantize_4bit=False, batch_size=16, seq_len=1145)
    check_fits("the fast recipe", need, {0: 139 * GIB})
    with pytest.raises(MemoryCheckError) as error:
        check_fits("the fast recipe", need, {0: 139 * GIB, 1: 20 * GIB},
                   hint="Use the lesson recipe.")
    message = str(error.value)
    assert "GPU 1 has 20.0 GiB free" in message and "GPU 0" not in message
    assert "the fast recipe" in message and "Use the lesson recipe." in message
    assert chat_bytes(INTERNLM2_1_8B) < 10 * GIB


def test_dims_are_read_from_the_model_folders(tmp_path):
    (tmp_path / "llm").mkdir()
    (tmp_path / "clip").mkdir()
    (tmp_path / "llm" / "config.json").write_text(json.dumps(dict(
        hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=16,
        num_key_value_heads=8, vocab_size=92544)))
    (tmp_path / "clip" / "config.json").write_text(json.dumps({"vision_config": dict(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, image_size=336,
        patch_size=14)}))
    dims = dims_from_dirs(tmp_path / "llm", tmp_path / "clip")
    assert dims == INTERNLM2_1_8B and dims.image_tokens == 576


# ---- the GPU setup TrainingService uses --------------------------------------------
def _model_dirs(tmp_path: Path) -> tuple[Path, Path]:
    test_dims_are_read_from_the_model_folders(tmp_path)
    return tmp_path / "llm", tmp_path / "clip"


def test_auto_picks_fast_on_a_big_gpu_and_the_lesson_on_a_24gb_slice(tmp_path, monkeypatch):
    import backend.training.gpu as gpu

    llm, clip = _model_dirs(tmp_path)
    monkeypatch.setattr(gpu, "list_gpus", lambda: H200)
    setup = gpu.gpu_setup("auto", None, llm_path=llm, visual_encoder_path=clip)
    assert setup.recipe is FAST and setup.launch.gpu_indices == (0,)
    assert setup.config_fields() == {"quantize_4bit": False, "recipe": FAST, "deepspeed": ""}
    slice_24gb = [GpuInfo(0, "NVIDIA A100 (MIG 3g.40gb)", 24 * GIB, 23 * GIB)]
    monkeypatch.setattr(gpu, "list_gpus", lambda: slice_24gb)
    setup = gpu.gpu_setup("auto", None, llm_path=llm, visual_encoder_path=clip)
    assert setup.recipe is LESSON
    setup.check_training(llm, clip, LESSON.options)  # the lesson fits 24 GB
    with pytest.raises(MemoryCheckError, match="fast recipe"):
        gpu.GpuSetup(FAST, setup.launch, setup.free_bytes).check_training(llm, clip,
                                                                          FAST.options)


def test_fast_recipe_feeds_the_gpu_with_dataloader_workers(tmp_path):
    cfg = load(tmp_path, cuda_config(tmp_path, FAST))
    assert cfg.train_dataloader.num_workers == 4
    assert cfg.optim_wrapper.optimizer.lr == 2e-4
    assert load(tmp_path, cuda_config(tmp_path, LESSON)).train_dataloader.num_workers == 0


def test_app_flags_reach_the_cuda_setup(monkeypatch):
    """--recipe/--gpus/--gpus-per-run/--deepspeed flow from the command line to the launch."""
    from backend.training import gpu
    from backend import services
    from backend.settings import parse_settings

    fake = [gpu.GpuInfo(0, "H200", 140 * 2**30, 139 * 2**30),
            gpu.GpuInfo(1, "H200", 140 * 2**30, 130 * 2**30)]
    monkeypatch.setattr(gpu, "list_gpus", lambda: fake)
    monkeypatch.setattr(gpu, "deepspeed_usable", lambda: True)
    settings = parse_settings(["--recipe", "lesson", "--gpus", "2", "--gpus-per-run", "2",
                               "--deepspeed", "deepspeed_zero2"])
    setup = services._gpu_setup(settings, "cuda")
    assert setup.recipe.name == "lesson" and setup.recipe.quantize_4bit
    assert setup.launch.nproc == 2 and setup.pool == (0, 1)
    assert setup.launch.deepspeed == "deepspeed_zero2"
    # Each torchrun run gets its own port when it starts.
    argv = setup.launch.train_argv(Path("c.py"), Path("train"), python="py")
    assert "--master_port={free_port}" in argv
    assert services._gpu_setup(settings, "cpu") is None
    defaults = parse_settings([])
    assert defaults.recipe == "auto" and defaults.gpus_per_run == 1
    # By default runs share every GPU, one GPU a run, with the fast recipe where it fits.
    every = services._gpu_setup(defaults, "cuda")
    assert every.pool == (0, 1) and every.launch.nproc == 1
    assert every.recipe.name == "fast"
    with pytest.raises(GpuSelectionError, match="--gpus-per-run 3"):
        services._gpu_setup(parse_settings(["--gpus-per-run", "3"]), "cuda")


def test_constant_lr_flattens_the_cosine_after_warmup(tmp_path, monkeypatch):
    import dataclasses

    flat = dataclasses.replace(FAST, name="fast_flat", constant_lr=True)
    cfg = load(tmp_path, cuda_config(tmp_path, flat))
    assert "CosineAnnealingLR" in str(cfg.param_scheduler[1].type)
    assert cfg.param_scheduler[1].eta_min == cfg.optim_wrapper.optimizer.lr
    assert load(tmp_path, cuda_config(tmp_path, FAST)).param_scheduler[1].eta_min == 0.0


def test_adam_beta2_and_lora_plus_reach_the_optimizer(tmp_path, monkeypatch):
    import dataclasses

    import torch
    from mmengine.optim import build_optim_wrapper

    tuned = dataclasses.replace(FAST, name="fast_tuned", adam_beta2=0.95, lora_b_lr_mult=16.0)
    cfg = load(tmp_path, cuda_config(tmp_path, tuned))
    assert tuple(cfg.optim_wrapper.optimizer.betas) == (0.9, 0.95)
    plain = load(tmp_path, cuda_config(tmp_path, FAST))
    assert tuple(plain.optim_wrapper.optimizer.betas) == (0.9, 0.999)
    assert "paramwise_cfg" not in plain.optim_wrapper

    class Adapted(torch.nn.Module):  # peft's parameter names
        def __init__(self):
            super().__init__()
            self.lora_A = torch.nn.ModuleDict({"default": torch.nn.Linear(4, 2)})
            self.lora_B = torch.nn.ModuleDict({"default": torch.nn.Linear(2, 4)})

    # AmpOptimWrapper needs CUDA; the plain wrapper takes no autocast dtype or scaler.
    wrapper_cfg = {k: v for k, v in cfg.optim_wrapper.items()
                   if k not in ("dtype", "loss_scale")}
    wrapper_cfg["type"] = "OptimWrapper"
    wrapper_cfg["optimizer"] = dict(wrapper_cfg["optimizer"], type="AdamW")
    wrapper = build_optim_wrapper(Adapted(), wrapper_cfg)
    base = cfg.optim_wrapper.optimizer.lr
    lrs = sorted({group["lr"] for group in wrapper.optimizer.param_groups})
    assert lrs == [base, base * 16]


def test_compile_mode_adds_the_block_compile_hook(tmp_path, monkeypatch):
    import dataclasses

    graphs = dataclasses.replace(FAST, name="fast_graphs", compile_mode="reduce-overhead")
    cfg = load(tmp_path, cuda_config(tmp_path, graphs))
    compile_hooks = [h for h in cfg.custom_hooks if "CompileBlocksHook" in str(h.type)]
    assert [h.mode for h in compile_hooks] == ["reduce-overhead"]
    assert "compile" not in cfg  # mmengine's own option fails to trace under torch 2.11
    plain = load(tmp_path, cuda_config(tmp_path, FAST))
    assert not any("CompileBlocksHook" in str(h.type) for h in plain.custom_hooks)


def test_the_fast_recipe_leaves_clip_frozen_without_lora_and_drops_lora_dropout(tmp_path):
    cfg = load(tmp_path, cuda_config(tmp_path, FAST))
    assert cfg.model.visual_encoder_lora is None
    assert cfg.model.freeze_visual_encoder is True
    assert cfg.model.llm_lora.lora_dropout == 0.0
    lesson = load(tmp_path, cuda_config(tmp_path, LESSON))
    assert lesson.model.visual_encoder_lora.r == 64
    assert lesson.model.llm_lora.lora_dropout == 0.05  # the built-in config's
    assert lesson.model.visual_encoder_lora.lora_dropout == 0.05


def test_compiled_blocks_train_like_eager_ones_and_keep_their_names():
    """A tiny CLIP with LoRA (as the recipes put on CLIP): every encoder block
    compiled in place, same parameter names, same loss and gradients. The
    aot_eager backend runs dynamo and AOTAutograd as on a GPU, minus codegen."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from backend.xtuner.trainer_side.hooks import compile_blocks

    if not hasattr(torch.nn.Module, "compile"):  # scripts/test_oldest_stack.sh
        pytest.skip("Module.compile is torch >= 2.2; compile_mode is off in both recipes")

    def build():
        torch.manual_seed(0)
        config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                  num_attention_heads=2, image_size=28, patch_size=14)
        lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "fc1"])
        return get_peft_model(CLIPVisionModel(config), lora)

    pixels = torch.randn(2, 3, 28, 28)

    def loss_and_grads(model):
        loss = model(pixel_values=pixels).last_hidden_state.pow(2).mean()
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()
                             if p.requires_grad}

    eager = build()
    compiled = build()
    names = [n for n, _ in compiled.named_parameters()]
    assert compile_blocks(compiled, backend="aot_eager") == 3
    assert [n for n, _ in compiled.named_parameters()] == names
    eager_loss, eager_grads = loss_and_grads(eager)
    compiled_loss, compiled_grads = loss_and_grads(compiled)
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-5)
    assert eager_grads.keys() == compiled_grads.keys() and eager_grads
    for name, grad in eager_grads.items():
        torch.testing.assert_close(compiled_grads[name], grad, rtol=1e-4, atol=1e-6)


def test_a_run_submitted_while_our_own_run_trains_waits_instead_of_being_refused(
        tmp_path, monkeypatch):
    """On a 24 GB slice, student A's lesson run holds ~14 GiB; student B's run
    must queue (it starts when A's ends), not fail A's memory as if another
    program held it."""
    import backend.training.gpu as gpu
    from backend.training.service import TrainingService

    llm, clip = _model_dirs(tmp_path)
    at_start = [GpuInfo(0, "NVIDIA A100 (MIG 3g.40gb)", 24 * GIB, 23 * GIB)]
    monkeypatch.setattr(gpu, "list_gpus", lambda: at_start)
    setup = gpu.gpu_setup("lesson", None, llm_path=llm, visual_encoder_path=clip)
    while_a_trains = [GpuInfo(0, "NVIDIA A100 (MIG 3g.40gb)", 24 * GIB, 9 * GIB)]
    monkeypatch.setattr(gpu, "list_gpus", lambda: while_a_trains)
    with pytest.raises(MemoryCheckError, match="GPU 0 has 9.0 GiB free"):
        setup.check_training(llm, clip, LESSON.options)  # another program's 14 GiB
    setup.check_training(llm, clip, LESSON.options, held={0})

    class Jobs:
        def __init__(self, devices):
            self.devices = devices

        def devices_in_use(self):
            return self.devices

    seen = []
    monkeypatch.setattr(gpu.GpuSetup, "check_training",
                        lambda self, *args, held=(), recipe=None: seen.append(held))
    for devices in ({"cuda:0"}, set()):
        service = TrainingService(None, Jobs(devices), tmp_path, None, LESSON.options,
                                  device="cuda", gpu=setup)
        service.check_gpu_memory(llm, clip, LESSON.options)
    assert seen == [{0}, set()]


def test_a_run_is_checked_against_the_best_free_gpus_of_the_pool(tmp_path, monkeypatch):
    """Runs share every GPU: a run fits when some GPU has room for it, and
    one our own runs fill counts with what it had free at start-up."""
    import backend.training.gpu as gpu

    llm, clip = _model_dirs(tmp_path)
    monkeypatch.setattr(gpu, "list_gpus", lambda: [GpuInfo(0, "A", 24 * GIB, 23 * GIB),
                                                   GpuInfo(1, "B", 24 * GIB, 23 * GIB)])
    setup = gpu.gpu_setup("lesson", "all", llm_path=llm, visual_encoder_path=clip)
    assert setup.pool == (0, 1)
    other_program = [GpuInfo(0, "A", 24 * GIB, 2 * GIB), GpuInfo(1, "B", 24 * GIB, 23 * GIB)]
    monkeypatch.setattr(gpu, "list_gpus", lambda: other_program)
    setup.check_training(llm, clip, LESSON.options)  # GPU 1 has room
    full = [GpuInfo(0, "A", 24 * GIB, 2 * GIB), GpuInfo(1, "B", 24 * GIB, 3 * GIB)]
    monkeypatch.setattr(gpu, "list_gpus", lambda: full)
    with pytest.raises(MemoryCheckError, match="GPU 1 has 3.0 GiB free"):
        setup.check_training(llm, clip, LESSON.options)
    setup.check_training(llm, clip, LESSON.options, held={1})  # our own run fills it


def test_memory_check_reads_the_free_memory_when_a_run_is_submitted(tmp_path, monkeypatch):
    import backend.training.gpu as gpu

    llm, clip = _model_dirs(tmp_path)
    monkeypatch.setattr(gpu, "list_gpus", lambda: H200)
    setup = gpu.gpu_setup("lesson", None, llm_path=llm, visual_encoder_path=clip)
    setup.check_training(llm, clip, LESSON.options)
    # Later another program takes most of GPU 0: the same setup now refuses.
    busy = [GpuInfo(0, "NVIDIA H200", 140 * GIB, 6 * GIB)]
    monkeypatch.setattr(gpu, "list_gpus", lambda: busy)
    with pytest.raises(MemoryCheckError, match="GPU 0 has 6.0 GiB free"):
        setup.check_training(llm, clip, LESSON.options)


def test_chat_models_refuse_to_load_where_they_would_not_fit(tmp_path):
    from backend.models.chat import ChatModels
    from backend.training.memory import check_chat
    from backend.models.paths import ModelPaths

    llm, clip = _model_dirs(tmp_path)
    check_chat(llm, clip, {0: 40 * GIB})
    with pytest.raises(MemoryCheckError, match="chat models.*GPU 0 has 4.0 GiB free"):
        check_chat(llm, clip, {0: 4 * GIB})
    # ChatModels runs the check before it loads anything.
    paths = ModelPaths(llm, clip, tmp_path / "iter_2181.pth")
    chat = ChatModels(paths, "cuda",
                      memory_check=lambda p: check_chat(p.llm, p.visual_encoder, {0: 4 * GIB}))
    with pytest.raises(MemoryCheckError):
        chat.load()
    assert not chat._loaded


def test_deepspeed_without_the_package_is_refused_at_start_up(monkeypatch):
    from backend.training import gpu

    monkeypatch.setattr(gpu, "list_gpus", lambda: H200)
    monkeypatch.setattr(gpu, "deepspeed_usable", lambda: False)
    with pytest.raises(GpuSelectionError, match="deepspeed==0.16.9"):
        gpu.gpu_setup("lesson", 2, "deepspeed_zero2", gpus_per_run=2)
    assert gpu.gpu_setup("lesson", 2, "", gpus_per_run=2).launch.nproc == 2


@pytest.mark.processes
def test_a_setting_that_cannot_work_stops_the_app_with_one_line(tmp_path):
    import subprocess

    result = subprocess.run(
        [sys.executable, "app.py", "--profile", "custom", "--work-dir", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 1
    assert "cannot start: Profile custom needs --llm" in result.stderr
    assert "Traceback" not in result.stderr


def test_memory_the_chat_models_hold_counts_as_free_for_the_next_run(tmp_path, monkeypatch):
    """On a 24 GB slice, comparing first must not make the next run look too
    big: the chat models are unloaded before any run starts."""
    import backend.training.gpu as gpu
    from backend.models.resident import chat_reserved_bytes

    llm, clip = _model_dirs(tmp_path)
    after_chat = [GpuInfo(0, "NVIDIA A100 (MIG 3g.40gb)", 24 * GIB, 14 * GIB)]
    monkeypatch.setattr(gpu, "list_gpus", lambda: after_chat)
    setup = gpu.gpu_setup("lesson", None, llm_path=llm, visual_encoder_path=clip)
    with pytest.raises(MemoryCheckError, match="GPU 0 has 14.0 GiB free"):
        setup.check_training(llm, clip, LESSON.options)
    setup.check_training(llm, clip, LESSON.options, released={0: 9 * GIB})
    # Nothing is credited while no chat model is loaded (or on a CPU).
    assert chat_reserved_bytes(None) == {}
    from types import SimpleNamespace
    assert chat_reserved_bytes(SimpleNamespace(loaded=False, device="cuda")) == {}
    assert chat_reserved_bytes(SimpleNamespace(loaded=True, device="cpu")) == {}


def test_cuda_configs_let_ddp_skip_clips_unused_last_layer(tmp_path):
    """Measured on the H200 (bench/RESULTS.md): torchrun without DeepSpeed
    stops at the second iteration unless DDP may find unused parameters."""
    assert load(tmp_path, cuda_config(tmp_path, LESSON)).find_unused_parameters is True
    assert load(tmp_path, cuda_config(tmp_path, FAST)).find_unused_parameters is True
    cpu = cuda_config(tmp_path, LESSON)
    import dataclasses
    cpu = dataclasses.replace(cpu, device="cpu", quantize_4bit=False, recipe=None)
    assert "find_unused_parameters" not in load(tmp_path, cpu)


@pytest.mark.parametrize("with_onebit", [True, False])
def test_deepspeed_counts_as_usable_only_with_what_mmengine_imports(tmp_path, monkeypatch,
                                                                    with_onebit):
    import importlib

    from backend.training import gpu

    package = tmp_path / "site" / "deepspeed"
    (package / "runtime" / "fp16").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    if with_onebit:
        (package / "runtime" / "fp16" / "onebit").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    assert gpu.deepspeed_usable() is with_onebit


def test_the_page_says_where_and_how_runs_train():
    from backend.training.gpu import GpuSetup

    one = GpuSetup(LESSON, Launch((1,)), {1: 0})
    assert one.describe() == "GPU 1 · recipe lesson"
    two = GpuSetup(FAST, Launch((0, 1), deepspeed="deepspeed_zero2"), {0: 0, 1: 0})
    assert two.describe() == "GPUs 0,1 (torchrun) · recipe fast · DeepSpeed deepspeed_zero2"


def test_two_gpus_halve_the_steps_of_a_run(tmp_path):
    """xtuner's batch_size is per GPU: progress, warm-up and the checkpoint
    name count the steps the ranks take together."""
    from backend.training.gpu import GpuSetup
    from backend.training.service import TrainingService

    def service(gpu):
        return TrainingService(None, None, tmp_path, None, LESSON.options, device="cuda",
                               gpu=gpu)

    two = GpuSetup(LESSON, Launch((0, 1), deepspeed="deepspeed_zero2"), {0: 0, 1: 0})
    one = GpuSetup(LESSON, Launch((0,)), {0: 0})
    assert service(one).iterations(1200, LESSON.options) == 1200
    assert service(two).iterations(1200, LESSON.options) == 600
    big_batch = FAST.options.with_updates({"batch_size": 16})
    assert service(two).iterations(1201, big_batch) == 38  # 16 x 2 per step
    # What the Data tab and /build_dataset tell before a run starts.
    assert service(two).schedule(1200) == {"iterations": 600, "batch_size": 2, "epochs": 1}
    assert service(None).schedule(1200) == {"iterations": 1200, "batch_size": 1, "epochs": 1}


def test_the_models_line_names_the_gpus_recipe_and_deepspeed():
    from types import SimpleNamespace

    from backend.training.gpu import GpuSetup
    from ui.app_ui import models_markdown

    status = {"error": "", "ready": True, "profile": "internstudio", "description": "lesson paths"}
    gpu = GpuSetup(LESSON, Launch((0, 1), deepspeed="deepspeed_zero2"), {0: 0, 1: 0})
    services = SimpleNamespace(models=SimpleNamespace(status=lambda: status), device="cuda",
                               training=SimpleNamespace(gpu=gpu), registry_repair=None)
    line = models_markdown(services)
    assert "cuda · GPUs 0,1 (torchrun) · recipe lesson · DeepSpeed deepspeed_zero2" in line
    services.training.gpu, services.device = None, "cpu"
    assert models_markdown(services).endswith("device: cpu")


def test_warm_trainers_follow_the_flag_and_the_device(tmp_path, monkeypatch):
    """--warm-trainers auto keeps waiting xtuner processes where this machine's
    GPUs train, not on the CPU; on/off (or STUDIO_WARM_TRAINERS) decide anywhere."""
    from backend import services
    from backend.settings import parse_settings

    def warm(argv, device):
        return services.run_executor(parse_settings(["--work-dir", str(tmp_path), *argv]),
                                     device).warm is not None

    assert warm([], "cuda") and not warm([], "cpu")
    assert warm(["--warm-trainers", "on"], "cpu")
    assert not warm(["--warm-trainers", "off"], "cuda")
    monkeypatch.setenv("STUDIO_WARM_TRAINERS", "on")
    assert warm([], "cpu")
    assert services.run_executor(parse_settings(["--work-dir", str(tmp_path)]), "cpu"
                                 ).warm.log_file == tmp_path / "logs" / "warm-trainers.log"
