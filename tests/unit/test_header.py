"""The header names the models in plain words, in the page's language (issue 17)."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from backend.models.profiles import Detected
from ui.app_ui import internstudio_markdown, models_markdown, profile_words
from ui.messages import tr

CACHE = "/work/main/work/test-models/demo"


def services(**status):
    status = {"error": "", "ready": True, "profile": "demo", "fraction": 1.0, "message": "",
              "description": f"demo: small models built locally in {CACHE}", **status}
    return SimpleNamespace(models=SimpleNamespace(status=lambda: status), device="cpu",
                           training=SimpleNamespace(gpu=None), registry_repair=None)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("status", [{}, {"ready": False, "fraction": 0.4, "message": "…"},
                                    {"error": "no space left"}])
def test_the_header_names_the_demo_profile_in_plain_words(lang, status):
    line = models_markdown(services(**status), lang)
    assert tr("profile_demo", lang) in line
    assert CACHE not in line and "built locally" not in line and "**demo**" not in line


def test_every_profile_has_its_words_and_an_unknown_one_keeps_its_name():
    for name in ("demo", "internstudio", "custom"):
        assert profile_words(name, "zh") != profile_words(name, "en") != name
    assert profile_words("other", "zh") == "other"


def test_the_internstudio_line_says_which_models_the_page_uses():
    missing = tuple(Detected(n, Path("/root/share/new_models") / n, False) for n in "ab")
    line = internstudio_markdown(missing, "demo", "zh")
    assert tr("profile_demo", "zh") in line and "**demo**" not in line
