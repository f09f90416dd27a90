"""Write an InternLM2 model folder that loads like the real checkpoint.

xtuner ships InternLM2's remote code (configuration/modeling_internlm2.py);
copying it next to a config.json with ``auto_map`` makes
``AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)``
take exactly the path the real InternLM2-Chat folder takes. Used by the demo
profile (tiny) and the GPU benchmark (real size, random weights).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

REMOTE_CODE = ("configuration_internlm2.py", "modeling_internlm2.py")
AUTO_MAP = {"AutoConfig": "configuration_internlm2.InternLM2Config",
            "AutoModel": "modeling_internlm2.InternLM2ForCausalLM",
            "AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM"}


def remote_code_dir() -> Path:
    import xtuner

    return Path(xtuner.__file__).parent / "_lite" / "modelings" / "internlm2"


def write_internlm2_config(folder: Path, tokenizer, sizes: dict, **overrides):
    """Copy the remote code, write config.json; return the loaded config."""
    from transformers import AutoConfig

    folder.mkdir(parents=True, exist_ok=True)
    for name in REMOTE_CODE:
        shutil.copy(remote_code_dir() / name, folder / name)
    config = dict(
        sizes, model_type="internlm2", architectures=["InternLM2ForCausalLM"],
        auto_map=AUTO_MAP, bias=False, hidden_act="silu", initializer_range=0.02,
        tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        attn_implementation="eager", **overrides)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
