"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Playwright's own browser builds are never downloaded (``playwright install`` is
not run anywhere): ``executable_path`` points it at the system's Chromium
(``.ci/run`` installs the ``chromium`` package).  Every page a test opens
records its console errors and uncaught exceptions; ``BrowserPage.assert_clean``
fails the test on any.  Screenshots go to the test's tmp dir, or to
``JOBSVC_SCREENSHOTS`` (``JOBSVC_SCREENSHOTS=docs/screenshots pytest
tests/test_dashboard_browser.py`` refreshes the README's).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a browser in a container: no sandbox (no user namespaces), no /dev/shm
# limits, and nothing fetched from the network on its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking"]
# A window that shows a page the way the README's screenshots show it.
VIEWPORT = {"width": 1280, "height": 800}
# Milliseconds Playwright waits for a selector or a condition by default.
WAIT_MS = 10_000

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
except ImportError:  # the test extra installs it; without it the browser tests are skipped
    sync_playwright = None


def screenshot_dir(tmp_path: Path) -> Path:
    target = os.environ.get("JOBSVC_SCREENSHOTS")
    path = Path(target) if target else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    if sync_playwright is None or not CHROMIUM.exists():
        missing = "needs playwright and /usr/bin/chromium (apt-get install chromium)"
        # CI installs both: there a missing browser is a failure, never a silent skip.
        if os.environ.get("JOBSVC_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class BrowserPage:
    """A page in a fresh context (its own sessionStorage), recording what went wrong."""

    def __init__(self, browser: Browser, base_url: str, shots: Path, token: str | None = None):
        self.base_url = base_url
        self.shots = shots
        self.context = browser.new_context(viewport=VIEWPORT)
        if token is not None:
            # As if the token had been typed once in this tab (test_token_is_asked_once types it).
            self.context.add_init_script(f"sessionStorage.setItem('jobsvc.token', {token!r})")
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def open(self, hash_path: str = "#/") -> Page:
        """Navigates to a page of the dashboard; returns once its feed is live."""
        self.page.goto(f"{self.base_url}/{hash_path}")
        self.page.wait_for_function("() => document.getElementById('conn').textContent === 'live'")
        return self.page

    # Conditions are functions, never strings: Playwright evaluates a string expression
    # with eval(), which the page's CSP refuses (no 'unsafe-eval').

    def go(self, hash_path: str) -> Page:
        """Moves within the running app (a hash change, no page load)."""
        self.page.evaluate("(h) => { location.hash = h; }", hash_path)
        return self.page

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"))

    def action_buttons(self) -> list[str]:
        return [b.inner_text() for b in self.page.query_selector_all("button.action")]

    def assert_clean(self, allowed: str | None = None) -> None:
        """No console error and no uncaught exception (but those matching ``allowed``)."""
        errors = [e for e in self.errors if not (allowed and re.search(allowed, e))]
        assert not errors, errors

    def close(self) -> None:
        self.context.close()
