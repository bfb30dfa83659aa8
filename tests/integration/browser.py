"""A real browser for the explorer's tests: Debian's Chromium driven by Playwright (Playwright's
own browser download cannot be reached from these machines)."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = shutil.which("chromium")
WAIT_MS = 20_000
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is missing (as root: apt-get install chromium)"
)


def launch() -> Iterator[Browser]:
    """Chromium for a module's tests (conftest.py's `browser` fixture)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page with what it fetched and every console error it logged."""

    def __init__(self, browser: Browser, width: int, height: int = 900) -> None:
        self.page: Page = browser.new_page(viewport={"width": width, "height": height})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str) -> Page:
        self.page.goto(url)
        self.ready()
        return self.page

    def ready(self) -> None:
        """Wait until the view has rendered its route (app.js stamps `data-ready`)."""
        self.page.wait_for_function(
            "() => document.getElementById('view').dataset.ready", timeout=WAIT_MS
        )

    def go(self, hash_: str) -> Page:
        """Show route `hash_` (read again when it is the one shown: no hashchange then)."""
        if self.page.evaluate("location.hash") == hash_:
            self.page.reload()
        else:
            self.page.evaluate("document.getElementById('view').dataset.ready = ''")
            self.page.evaluate(f"location.hash = {json.dumps(hash_)}")
        self.ready()
        return self.page

    def text(self) -> str:
        return self.page.inner_text("#view")


def png_width(path: Path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]
