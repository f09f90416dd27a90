"""The README's gradio_client example, run as written against the demo app."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.app_server import ROOT, running_app

README_URL = "http://127.0.0.1:7860/"


def readme_api_example() -> str:
    """The first python block of the README's API section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## API (gradio_client)", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's API section lost its python example"
    return match.group(1)


def test_the_example_is_complete_python():
    code = readme_api_example()
    compile(code, "README.md", "exec")
    assert README_URL in code, "the test points the example at its own app through this URL"
    for endpoint in ("/build_dataset", "/start_training", "/run_status", "/compare"):
        assert endpoint in code


@pytest.mark.processes
@pytest.mark.slow
def test_the_readme_example_runs(tmp_path):
    models = Path(os.environ.get("STUDIO_TEST_MODELS_DIR", ROOT / "work" / "test-models"))
    with running_app(tmp_path / "work", "--profile", "demo", "--models-dir",
                     str(models)) as (url, _process):
        code = readme_api_example().replace(README_URL, url)
        # Run from the repository root, as a reader would (assets/example.jpg is relative).
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                              text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("Pretrain:") and "| Finetune:" in last
    base, tuned = last[len("Pretrain:"):].split("| Finetune:")
    assert base.strip() and tuned.strip()
