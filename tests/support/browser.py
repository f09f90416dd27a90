"""Shared by the browser tests: Debian Chromium through Playwright, and a
person's walk through the page with numbered screenshots."""
import os
import re
import shutil
from pathlib import Path

from tests.support.app_server import ROOT
from tests.support.polling import poll_until
from ui.messages import tr

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
OUTPUT = ROOT / "test-output" / "browser"
MODELS_TIMEOUT_S = 900  # the demo models built by the first test that needs them


class Walk:
    """One person's walk through the page in one language, with numbered screenshots."""

    def __init__(self, page, locale: str):
        self.page = page
        self.lang = "zh" if locale.startswith("zh") else "en"
        self.folder = OUTPUT / locale
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.shots: list[Path] = []

    def text(self, key: str, **fields) -> str:
        return tr(key, self.lang, **fields)

    def shot(self, name: str) -> None:
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)

    def button(self, key: str):
        return self.page.get_by_role("button", name=self.text(key), exact=True)

    def tab(self, key: str):
        return self.page.get_by_role("tab", name=self.text(key))

    def field(self, key: str):
        return self.page.get_by_label(self.text(key), exact=True)

    def answer_box(self, key: str):
        """The component (Chatbot or Textbox) labelled with key."""
        label = self.page.get_by_text(self.text(key), exact=True)
        return self.page.locator(".block").filter(has=label).last

    def wait_text(self, locator, pattern, timeout_s: float) -> str:
        """Poll a locator's text until it matches (gradio updates it over SSE)."""
        seen = [""]

        def matching():
            seen[0] = locator.inner_text() if locator.count() else ""
            return re.search(pattern, seen[0]) and seen[0]

        return poll_until(matching, timeout_s, interval=0.5,
                          message=lambda: f"{pattern!r} never appeared; last text: {seen[0]!r}")
