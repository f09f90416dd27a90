"""The Dockerfile, read as text (no Docker engine runs here).

CI cannot build the image, so what keeps it honest is that it installs with the same
script and arguments as `make` (which CI does run) and starts the app the way the
README says.
"""
import json
import os
import re
import shlex
from pathlib import Path
from unittest import mock

from backend.settings import parse_settings

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def env_of() -> dict:
    env = {}
    for word, rest in instructions():
        if word == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))
    return env


def parse_settings_with(env: dict):
    with mock.patch.dict(os.environ, env):
        return parse_settings([])


def makefile_install() -> tuple[list[str], list[str]]:
    """The runtime install rule of the Makefile: its prerequisites and its command."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^\$\(STAMP\):(.*)\n\t(.*)$", text, re.MULTILINE)
    assert match, "the Makefile's $(STAMP) rule moved"
    return match.group(1).split(), shlex.split(match.group(2))


def test_the_image_runs_on_cuda_runtime():
    base = [rest for word, rest in instructions() if word == "FROM"]
    assert len(base) == 1 and base[0].startswith("nvidia/cuda:") and "runtime" in base[0]


def test_the_image_installs_with_the_makefiles_script_and_arguments():
    prerequisites, command = makefile_install()
    assert command[0] == "scripts/install_deps.sh"
    runs = [shlex.split(rest) for word, rest in instructions() if word == "RUN"]
    installs = [run for run in runs if run[0] == "scripts/install_deps.sh"]
    assert len(installs) == 1, "one install, by the shared script"
    # Same options as `make venv`: only the venv path differs.
    assert installs[0][2:] == command[2:]
    assert not any("pip" in part for run in runs for part in run), "no pip besides the script"


def test_every_install_input_is_in_the_image_before_the_install():
    prerequisites, _ = makefile_install()
    copied = []
    for word, rest in instructions():
        if word == "RUN" and rest.startswith("scripts/install_deps.sh"):
            break
        if word == "COPY":
            copied += shlex.split(rest)[:-1]
    for needed in prerequisites:
        assert needed in copied or "." in copied, f"{needed} not copied before the install"
    assert env_of().get("PYTHON") == "python3.11", "install_deps.sh reads $PYTHON"


def test_the_image_starts_the_app_on_all_interfaces():
    env = env_of()
    cmd = [json.loads(rest) for word, rest in instructions() if word == "CMD"]
    assert cmd and cmd[-1][-1] == "app.py" and cmd[-1][0].endswith("/bin/python")
    exposed = [rest for word, rest in instructions() if word == "EXPOSE"]
    assert exposed == [env["GRADIO_SERVER_PORT"]]
    # The app reads exactly these variables (no flags in CMD).
    keys = ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "STUDIO_WORK_DIR")
    settings = parse_settings_with({k: env[k] for k in keys})
    assert settings.host == "0.0.0.0"
    assert settings.port == 7860
    assert str(settings.work_dir) == env["STUDIO_WORK_DIR"]


def test_models_and_work_are_volumes_not_baked_in():
    volumes = [json.loads(rest) for word, rest in instructions() if word == "VOLUME"]
    mounted = {v for group in volumes for v in group}
    assert "/root/share/new_models" in mounted, "the lesson's models are mounted"
    assert env_of()["STUDIO_WORK_DIR"] in mounted, "runs and the demo models persist"


def test_dockerignore_keeps_local_state_out_and_the_app_in():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for local in (".venv/", "work/", ".git/", "test-output/"):
        assert local in ignored
    for needed in ("app.py", "backend", "ui", "assets", "scripts", "requirements.txt"):
        assert not any(needed.startswith(pattern.rstrip("/")) for pattern in ignored), needed
