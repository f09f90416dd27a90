import json
from pathlib import Path

import pytest
from mmengine.config import Config

from backend.xtuner.config import (ConfigError, TrainConfig, TrainOptions, convert_command,
                                   render_config, train_command, write_configs)

HOSTILE = ["'''", '"""', "__import__('os').system('touch MARKER')", "{{$HOME:x}}",
           "{{ fileDirname }}"]


def make_config(tmp_path: Path, **kwargs) -> TrainConfig:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    questions = data / "eval_questions.json"
    questions.write_text(json.dumps(HOSTILE + ["What is in the picture?"]))
    return TrainConfig(llm_path=tmp_path / "llm", visual_encoder_path=tmp_path / "clip",
                       pretrained_pth=tmp_path / "iter_2181.pth",
                       data_file=data / "repeated_data.json", image_file=data / "image.jpg",
                       questions_file=questions, work_dir=tmp_path / "run", **kwargs)


def test_rendered_config_loads_and_carries_the_lesson_edits(tmp_path):
    config = make_config(tmp_path, options=TrainOptions(lr=1e-3, llm_lora_r=32, epochs=2))
    finetune, pretrain = write_configs(config)
    cfg = Config.fromfile(str(finetune))
    assert cfg.model.llm.pretrained_model_name_or_path == str(tmp_path / "llm")
    assert cfg.model.visual_encoder.pretrained_model_name_or_path == str(tmp_path / "clip")
    assert cfg.model.pretrained_pth == str(tmp_path / "iter_2181.pth")
    assert cfg.llava_dataset.data_path == str(tmp_path / "data" / "repeated_data.json")
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.train_cfg.max_epochs == 2
    assert cfg.model.llm_lora.r == 32
    hook = cfg.custom_hooks[1]
    assert hook.evaluation_images == str(tmp_path / "data" / "image.jpg")
    assert hook.questions_file == str(tmp_path / "data" / "eval_questions.json")
    assert "evaluation_inputs" not in hook
    extra_hooks = [str(h["type"]) for h in cfg.custom_hooks[2:]]
    assert any("RankReportHook" in h for h in extra_hooks)
    assert any("SaveOnStopHook" in h for h in extra_hooks)
    assert any("LeanFinalCheckpointHook" in h for h in extra_hooks)
    assert cfg.log_processor.window_size == 1
    # CPU: no 4-bit, no AMP.
    assert "quantization_config" not in cfg.model.llm
    assert "AmpOptimWrapper" not in str(cfg.optim_wrapper.type)
    pre = Config.fromfile(str(pretrain))
    assert "llm_lora" not in pre.model
    assert pre.model.llm.pretrained_model_name_or_path == str(tmp_path / "llm")


def test_no_user_text_in_any_rendered_file(tmp_path):
    config = make_config(tmp_path)
    for path in write_configs(config):
        text = path.read_text()
        for hostile in HOSTILE:
            assert hostile not in text
        assert "What is in the picture?" not in text


def test_cuda_lesson_recipe_keeps_qlora_and_amp(tmp_path):
    text = render_config(make_config(tmp_path, device="cuda", quantize_4bit=True))
    path = tmp_path / "cuda.py"
    path.write_text(text)
    cfg = Config.fromfile(str(path))
    assert cfg.model.llm.quantization_config.load_in_4bit is True
    assert "AmpOptimWrapper" in str(cfg.optim_wrapper.type)


def test_the_final_checkpoint_drops_adams_state_unless_deepspeed_or_never_saved(tmp_path):
    from backend.xtuner.recipes import FAST, LESSON

    def lean_hook(**kwargs):
        return "LeanFinalCheckpointHook" in render_config(make_config(tmp_path, **kwargs))

    lesson = dict(device="cuda", quantize_4bit=True, recipe=LESSON)
    assert lean_hook() and lean_hook(**lesson)
    # DeepSpeed keeps its checkpoint folders as they were.
    assert not lean_hook(**lesson, deepspeed="deepspeed_zero2")
    # The fast recipe saves no optimizer state at all: nothing to drop.
    assert not lean_hook(device="cuda", recipe=FAST)


def test_invalid_options_are_refused():
    with pytest.raises(ConfigError, match="outside"):
        TrainOptions(lr=5.0)
    with pytest.raises(ConfigError, match="Unknown option"):
        TrainOptions().with_updates({"rm -rf": 1})
    with pytest.raises(ConfigError, match="must be a int"):
        TrainOptions().with_updates({"epochs": "1; import os"})


def test_paths_must_be_absolute_and_single_line(tmp_path):
    config = make_config(tmp_path)
    with pytest.raises(ConfigError, match="absolute"):
        TrainConfig(**{**config.__dict__, "llm_path": Path("relative/llm")})
    bad = TrainConfig(**{**config.__dict__, "llm_path": tmp_path / "a\nimport os"})
    with pytest.raises(ConfigError):
        render_config(bad)


def test_commands_are_argument_lists_with_the_module_not_the_wrapper(tmp_path):
    config = make_config(tmp_path)
    argv = train_command(config, python="/py")
    assert argv[:3] == ["/py", "-m", "xtuner.tools.train"]
    assert "--resume" in train_command(config, "/py", resume=tmp_path / "iter_5.pth")
    convert = convert_command(config.config_file, tmp_path / "iter_5.pth", tmp_path / "hf", "/py")
    assert convert[:3] == ["/py", "-m", "xtuner.tools.model_converters.pth_to_hf"]
    assert convert[-1] == "--fp32"


def test_short_runs_get_a_warmup_of_at_least_two_iterations():
    from backend.training.service import with_usable_warmup

    assert with_usable_warmup(TrainOptions(), 1200).warmup_ratio == 0.03
    short = with_usable_warmup(TrainOptions(), 30)
    assert short.warmup_ratio * 30 >= 2
    assert with_usable_warmup(TrainOptions(), 2).warmup_ratio == 0.5


def test_one_pretrain_renderer_serves_the_conversion_and_the_demo_pretrain(tmp_path):
    """pth_to_hf's pretrain config and the demo's own pretrain run come from
    the same renderer; the demo only adds data and schedule settings."""
    from backend.models.demo.pretrain import render_pretrain_config as render_demo
    from backend.xtuner.config import pretrain_config_text, render_pretrain_config

    config = make_config(tmp_path)
    plain = tmp_path / "pretrain.py"
    plain.write_text(render_pretrain_config(config))
    cfg = Config.fromfile(str(plain))
    assert cfg.model.llm.pretrained_model_name_or_path == str(config.llm_path)
    assert "quantization_config" not in cfg.model.llm  # CPU
    assert cfg.custom_hooks[1].evaluation_images == str(config.image_file)

    data = tmp_path / "demo" / "pretrain.json"
    data.parent.mkdir()
    data.write_text(json.dumps([{"id": i} for i in range(40)]))
    demo = Config.fromfile(str(render_demo(tmp_path / "demo.py", config.llm_path,
                                           config.visual_encoder_path, data,
                                           config.image_file)))
    assert demo.train_dataloader.dataset.data_path == str(data)
    assert demo.train_dataloader.batch_size == 4 and demo.optim_wrapper.optimizer.lr == 2e-3
    assert demo.param_scheduler[0].end == pytest.approx(0.3)  # 3 of 10 iterations x 6 epochs
    assert demo.custom_hooks[1].max_new_tokens == 40
    assert demo.default_hooks.checkpoint.max_keep_ckpts == 1
    with pytest.raises(ConfigError, match="newlines"):
        pretrain_config_text(config.llm_path, config.visual_encoder_path, config.image_file,
                             settings={"data_path": "a\nimport os"})
