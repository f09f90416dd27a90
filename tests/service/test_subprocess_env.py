"""The environment of every xtuner subprocess, checked in a real subprocess."""
import json
import os
import subprocess
import sys

import pytest

from backend.xtuner.env import REPO_ROOT, SITE_DIR, subprocess_env


def _child_path(env: dict) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c",
         "import json, sys, sitecustomize; print(json.dumps([sitecustomize.__file__] + sys.path))"],
        env={**os.environ, **env}, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


@pytest.mark.processes
def test_our_sitecustomize_wins_and_the_servers_pythonpath_stays_behind(tmp_path, monkeypatch):
    # Where a --target install (the GPU machine's carried wheels) would live.
    extra = tmp_path / "site"
    extra.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(extra), str(REPO_ROOT)]))
    env = subprocess_env(1)
    sitecustomize_file, *path = _child_path(env)
    assert sitecustomize_file == str(SITE_DIR / "sitecustomize.py")
    assert path.index(str(SITE_DIR)) < path.index(str(REPO_ROOT)) < path.index(str(extra))
    assert env["PYTHONPATH"].split(os.pathsep).count(str(REPO_ROOT)) == 1


def test_without_a_pythonpath_only_ours(monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    assert subprocess_env(1)["PYTHONPATH"].split(os.pathsep) == [str(SITE_DIR), str(REPO_ROOT)]
